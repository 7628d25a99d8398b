"""In-app notifications to people, and their WhatsApp copy for the kinds named in config.

`notify_user` is what every module calls. For a kind listed in MESSAGING_WHATSAPP_KINDS (SLA
breaches, reminders, ...) a person with a WhatsApp number also gets the approved "team_alert"
template on WhatsApp (sent by the worker after the caller commits). Groups: messaging_alerts.alert_group.
"""
from __future__ import annotations

from typing import Optional

from flask import current_app, has_app_context
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.messaging import Notification


def add_notification(
    session: Session,
    user_id: int,
    kind: str,
    title: str,
    body: Optional[str] = None,
    link: Optional[str] = None,
    ref_type: Optional[str] = None,
    ref_id: Optional[int] = None,
) -> Notification:
    """The in-app notification only (no WhatsApp copy). Caller commits."""
    note = Notification(
        user_id=user_id, kind=kind, title=title, body=body, link=link, ref_type=ref_type, ref_id=ref_id
    )
    session.add(note)
    return note


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
    """Queue an in-app notification for one person (caller commits); for the kinds in
    MESSAGING_WHATSAPP_KINDS also a WhatsApp copy to the person's number (idempotent per notification)."""
    note = add_notification(session, user_id, kind, title, body, link, ref_type, ref_id)
    if has_app_context() and kind in current_app.config.get("MESSAGING_WHATSAPP_KINDS", ()):
        from app.services.messaging_alerts import whatsapp_person

        session.flush()
        whatsapp_person(session, user_id, title=title, body=body, idempotency_key=f"notification:{note.id}",
                        ref_type="notification", ref_id=note.id)
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
