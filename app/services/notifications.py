"""In-app notifications to people (the Messaging module adds WhatsApp fan-out and groups)."""
from __future__ import annotations

from typing import Optional

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.messaging import Notification


def notify_user(
    session: Session,
    user_id: int,
    kind: str,
    title: str,
    body: Optional[str] = None,
    link: Optional[str] = None,
    ref_type: Optional[str] = None,
    ref_id: Optional[int] = None,
) -> Notification:
    """Queue an in-app notification for one person (caller commits)."""
    note = Notification(
        user_id=user_id, kind=kind, title=title, body=body, link=link, ref_type=ref_type, ref_id=ref_id
    )
    session.add(note)
    return note


def unread_count(session: Session, user_id: int) -> int:
    return session.scalar(
        select(func.count()).select_from(Notification).where(
            Notification.user_id == user_id, Notification.read_at.is_(None)
        )
    ) or 0


def mark_read(session: Session, user_id: int, notification_ids: list[int]) -> int:
    result = session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.id.in_(notification_ids), Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )
    return result.rowcount
