"""The transactional outbox: a task to queue, written in the same transaction as the change that needs it."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from flask_appbuilder import Model
from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import created_at_column


class OutboxMessage(Model):
    """One Celery task to hand over once the writing transaction commits (see app.services.outbox)."""

    __tablename__ = "outbox_message"
    id: Mapped[int] = mapped_column(primary_key=True)
    task: Mapped[str] = mapped_column(String(100))  # the Celery task's name, e.g. "messaging.send_message"
    args: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of the task's positional arguments
    created_at: Mapped[datetime] = created_at_column()
    due_at: Mapped[datetime] = mapped_column()  # not handed over before (a delay, or the next retry)
    claimed_until: Mapped[Optional[datetime]] = mapped_column()  # a relay is publishing it until then
    sent_at: Mapped[Optional[datetime]] = mapped_column()  # handed to the broker
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    last_error: Mapped[Optional[str]] = mapped_column(Text)

    __table_args__ = (Index("ix_outbox_message_pending", "sent_at", "due_at"),)
