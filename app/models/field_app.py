"""The field app's offline outbox on the server side: each client-generated Idempotency-Key is applied once."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from flask_appbuilder import Model
from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import created_at_column


class IdempotencyKey(Model):
    """A write sent with `Idempotency-Key`: stored in the write's own transaction, then its answer, so a
    repeat (a phone resending its offline queue) gets the first answer and changes nothing."""

    __tablename__ = "idempotency_key"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id", ondelete="RESTRICT"))
    key: Mapped[str] = mapped_column(String(80))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))  # sha256 of the request, to refuse a reused key
    status_code: Mapped[Optional[int]] = mapped_column(Integer)
    response: Mapped[Optional[str]] = mapped_column(Text)  # the JSON answered the first time
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idempotency_key"),)
