"""Messaging: in-app notifications to people. (WhatsApp, groups and alerts come with Messaging.)"""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import created_at_column


class Notification(Model):
    """An in-app notification for one person, read or unread."""

    __tablename__ = "notification"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id", ondelete="CASCADE"), index=True)
    user: Mapped[User] = relationship(User)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[Optional[str]] = mapped_column(Text)
    link: Mapped[Optional[str]] = mapped_column(String(500))
    ref_type: Mapped[Optional[str]] = mapped_column(String(40))
    ref_id: Mapped[Optional[int]] = mapped_column()
    created_at: Mapped[datetime] = created_at_column()
    read_at: Mapped[Optional[datetime]] = mapped_column()

    @property
    def is_read(self) -> bool:
        return self.read_at is not None
