"""Signed webhooks from external systems: the registered sources and what each one delivered."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from flask_appbuilder import Model
from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import created_at_column
from app.models.messaging import NotificationGroup


class WebhookSource(Model):
    """A system allowed to post to /api/v1/webhooks/<code>, with its own HMAC secret (managed by Admin)."""

    __tablename__ = "webhook_source"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)  # the <source> of the URL
    name: Mapped[str] = mapped_column(String(120))
    secret: Mapped[str] = mapped_column(String(200))  # the HMAC key; shown once when generated
    group_id: Mapped[int] = mapped_column(ForeignKey("notification_group.id", ondelete="RESTRICT"), index=True)
    group: Mapped[NotificationGroup] = relationship(NotificationGroup)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = created_at_column()

    def __repr__(self) -> str:
        return self.name


class WebhookDelivery(Model):
    """One accepted body; the unique (source, signature) makes a replay store nothing new."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (UniqueConstraint("source_id", "signature", name="uq_webhook_delivery_signature"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("webhook_source.id", ondelete="RESTRICT"), index=True)
    source: Mapped[WebhookSource] = relationship(WebhookSource)
    signature: Mapped[str] = mapped_column(String(64))  # hex HMAC of timestamp + "." + body
    sent_at: Mapped[datetime] = mapped_column()  # the signed X-ChargeOps-Timestamp
    body: Mapped[str] = mapped_column(Text)
    charger_cid: Mapped[Optional[str]] = mapped_column(String(48))
    alert_id: Mapped[Optional[int]] = mapped_column(ForeignKey("alert.id", ondelete="RESTRICT"))
    processed_at: Mapped[Optional[datetime]] = mapped_column()
    received_at: Mapped[datetime] = created_at_column()
