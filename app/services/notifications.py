"""In-app notifications to people, and their WhatsApp copy for the kinds named in config.

`notify_user` is what every module calls. For a kind listed in MESSAGING_WHATSAPP_KINDS (SLA
breaches, reminders, ...) a person with a WhatsApp number also gets the approved "team_alert"
template on WhatsApp (sent by the worker after the caller commits). Groups: messaging_alerts.alert_group.
"""
from __future__ import annotations

import logging
from typing import Optional

from flask import current_app, has_app_context
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.services import iso_utc
from app.models.base import utcnow
from app.models.messaging import MessageTemplate, Notification
from app.models.people import TeamMember
from app.services.messaging_outbound import send_whatsapp
from app.services.phones import try_e164
from app.models.messaging import NotificationGroup
from app.services.people import active_users_with_roles
from app.models.field import PushDelivery, PushSubscription
from app.models.field import Broadcast
from app.security import ROLES
from app.services import InvalidInput
from app.services.outbox import enqueue_after_commit

log = logging.getLogger(__name__)


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
        session.flush()
        whatsapp_person(session, user_id, title=title, body=body, idempotency_key=f"notification:{note.id}",
                        ref_type="notification", ref_id=note.id)
    return note


def _team_alert_template(session: Session) -> Optional[MessageTemplate]:
    code = current_app.config["MESSAGING_TEAM_ALERT_TEMPLATE"]
    return session.scalar(select(MessageTemplate).where(
        MessageTemplate.code == code, MessageTemplate.approved.is_(True), MessageTemplate.active.is_(True)
    ))


def whatsapp_person(session: Session, user_id: int, *, title: str, body: Optional[str], idempotency_key: str,
                    ref_type: Optional[str] = None, ref_id: Optional[int] = None):
    """Send a person the approved team-alert template on their WhatsApp (TeamMember.whatsapp).
    Business-initiated messages need a template; None when they have no number or no template exists."""
    phone = session.scalar(select(TeamMember.whatsapp).where(TeamMember.user_id == user_id, TeamMember.active.is_(True)))
    phone = try_e164(phone) if phone else None
    template = _team_alert_template(session)
    if phone is None or template is None:
        if phone is not None:
            log.warning("no approved %s template: WhatsApp to user %s skipped", current_app.config["MESSAGING_TEAM_ALERT_TEMPLATE"], user_id)
        return None
    return send_whatsapp(
        session, to=phone, template=template.code, variables={"title": title[:200], "body": (body or "-")[:700]},
        idempotency_key=idempotency_key, recipient_user_id=user_id, ref_type=ref_type, ref_id=ref_id,
    )


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


# --- one `notify` for every channel: in-app, WhatsApp, Web Push -------------------------------------

CHANNELS = ("inapp", "whatsapp", "push")


def recipients_for(session: Session, *, group_code: Optional[str] = None, role: Optional[str] = None) -> list[int]:
    """The active people of a notification group, or everyone holding a role."""
    if group_code:
        group = session.scalar(select(NotificationGroup).where(NotificationGroup.code == group_code))
        if group is None or not group.active:
            return []
        return [u.id for u in group.members if u.active]
    if role:
        return [u.id for u in active_users_with_roles(session, [role])]
    return []


def queue_push(session: Session, note: Notification) -> int:
    """A pending PushDelivery per active subscription of the person (the Web Push sender delivers them)."""
    subscriptions = session.scalars(select(PushSubscription.id).where(
        PushSubscription.user_id == note.user_id, PushSubscription.active.is_(True))).all()
    for subscription_id in subscriptions:
        session.add(PushDelivery(subscription_id=subscription_id, notification_id=note.id, title=note.title,
                                 body=note.body, link=note.link, status="pending", created_at=utcnow()))
    if subscriptions:  # the Web Push sender (app/services/field_push.py) after the commit

        enqueue_after_commit(session, "field.deliver_push", note.id)
    return len(subscriptions)


def notify(
    session: Session,
    user_ids,
    kind: str,
    title: str,
    body: Optional[str] = None,
    link: Optional[str] = None,
    ref_type: Optional[str] = None,
    ref_id: Optional[int] = None,
    channels=("inapp",),
) -> list[Notification]:
    """Tell these people through the chosen channels: always the in-app notification (the feed is the record),
    WhatsApp (the approved team-alert template, sent by the worker after the commit) and Web Push (queued
    per subscription). Caller commits."""
    unknown = set(channels) - set(CHANNELS)
    if unknown:
        raise InvalidInput(f"channels: one or more of {', '.join(CHANNELS)}")
    notes = []
    for user_id in dict.fromkeys(user_ids):  # once per person, in order
        note = add_notification(session, user_id, kind, title, body, link, ref_type, ref_id)
        session.flush()
        if "whatsapp" in channels:
            whatsapp_person(session, user_id, title=title, body=body, idempotency_key=f"notification:{note.id}",
                            ref_type="notification", ref_id=note.id)
        if "push" in channels:
            queue_push(session, note)
        notes.append(note)
    return notes


def broadcast(session: Session, *, title, body, group_code=None, role=None, channels=("inapp",), by_user_id=None):
    """A person's message to a notification group or to everyone with a role, on the chosen channels."""
    title = (title or "").strip()
    body = (body or "").strip()
    if not title or not body:
        raise InvalidInput("title and body are required")
    if len(title) > 200:
        raise InvalidInput("title is longer than 200 characters")
    if bool(group_code) == bool(role):
        raise InvalidInput("choose either a notification group or a role")
    if role and role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    channels = tuple(c for c in CHANNELS if c in channels) or ("inapp",)
    if "inapp" not in channels:
        channels = ("inapp",) + channels  # the feed always has it
    users = recipients_for(session, group_code=group_code, role=role)
    if group_code and not users:
        raise InvalidInput(f"notification group {group_code} has no active members (or does not exist)")
    record = Broadcast(title=title, body=body, group_code=group_code or None, role=role or None,
                       channels=",".join(channels), recipients=len(users), created_by_id=by_user_id, created_at=utcnow())
    session.add(record)
    session.flush()
    notify(session, users, "broadcast", title, body=body, link=f"/field/feed/#broadcast-{record.id}",
           ref_type="broadcast", ref_id=record.id, channels=channels)
    return record


def mark_all_read(session: Session, user_id: int) -> int:
    return session.execute(
        update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None)).values(read_at=utcnow())
    ).rowcount


def feed(session: Session, user_id: int, unread_only: bool = False, limit: int = 100, before_id: Optional[int] = None):
    """The person's notifications, newest first."""
    query = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    if before_id:
        query = query.where(Notification.id < before_id)
    return list(session.scalars(query.order_by(Notification.id.desc()).limit(limit)))


def notification_json(n: Notification) -> dict:
    return {"id": n.id, "kind": n.kind, "title": n.title, "body": n.body, "link": n.link, "ref_type": n.ref_type,
            "ref_id": n.ref_id, "created_at": iso_utc(n.created_at), "read": n.read_at is not None}


def register_push_subscription(session: Session, user_id: int, data) -> tuple[object, bool]:
    """Store (or move to this person) a Web Push subscription; the same endpoint twice is one row."""
    if not isinstance(data, dict):
        raise InvalidInput("send a JSON object with endpoint and keys")
    endpoint = data.get("endpoint")
    keys = data.get("keys") if isinstance(data.get("keys"), dict) else {}
    if not isinstance(endpoint, str) or not endpoint.startswith("https://") or len(endpoint) > 1000:
        raise InvalidInput("endpoint must be the https URL of the push service (at most 1000 characters)")
    p256dh, auth = keys.get("p256dh"), keys.get("auth")
    if not isinstance(p256dh, str) or not p256dh or len(p256dh) > 200 or not isinstance(auth, str) or not auth or len(auth) > 100:
        raise InvalidInput("keys.p256dh and keys.auth are required")
    existing = session.scalar(select(PushSubscription).where(PushSubscription.endpoint == endpoint))
    if existing is not None:
        existing.user_id, existing.p256dh, existing.auth, existing.active = user_id, p256dh, auth, True
        return existing, False
    subscription = PushSubscription(user_id=user_id, endpoint=endpoint, p256dh=p256dh, auth=auth, active=True,
                                    created_at=utcnow())
    session.add(subscription)
    session.flush()
    return subscription, True
