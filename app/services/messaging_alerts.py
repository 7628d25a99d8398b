"""Alerts to groups of people: fan-out to each member's WhatsApp and in-app notifications,
de-duplication of repeated triggers, and the alert history with its resolution.

Entry point for other modules (chargers_alerts for Faulted/Offline chargers, Installations for
delays, the Support desk ...):

    alert_group(session, group_code, *, kind, title, body, ref_type=None, ref_id=None,
                dedupe_key=None, now=None) -> Alert | None

Returns None when `dedupe_key` already alerted within MESSAGING_ALERT_DEDUPE_MINUTES (the
repeat is counted on that alert instead), so a flapping charger alerts its group once per window.
Caller commits; WhatsApp messages are sent by the worker after the commit.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Optional

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.messaging import Alert, AlertRecipient, NotificationGroup
from app.services import Conflict, InvalidInput, NotFound, get_or_404, iso_utc
from app.services.notifications import add_notification, whatsapp_person

log = logging.getLogger(__name__)


def group_by_code(session: Session, code: str) -> NotificationGroup:
    group = session.scalar(select(NotificationGroup).where(NotificationGroup.code == code))
    if group is None:
        raise NotFound(f"notification group {code} not found")
    return group


def alert_group(
    session: Session,
    group_code: str,
    *,
    kind: str,
    title: str,
    body: Optional[str] = None,
    ref_type: Optional[str] = None,
    ref_id: Any = None,
    dedupe_key: Optional[str] = None,
    now: Optional[datetime] = None,
) -> Optional[Alert]:
    """Alert every active member of a group: an in-app notification each, and the "team_alert"
    WhatsApp template to each member's WhatsApp number when the group sends WhatsApp.

    - kind: what triggered it ("charger_faulted", "charger_offline", "installation_delay", ...).
    - ref_type/ref_id: the thing it is about (e.g. "charger", "CP-0042").
    - dedupe_key: e.g. f"charger:{cid}:faulted". A repeat within MESSAGING_ALERT_DEDUPE_MINUTES of
      the last alert with that key sends nothing, counts the repeat on it and returns None.
    Caller commits.
    """
    if not kind or not title:
        raise InvalidInput("kind and title are required")
    group = group_by_code(session, group_code)
    if not group.active:
        raise Conflict(f"notification group {group_code} is not active")
    now = now or utcnow()
    slot = None
    if dedupe_key:
        window = timedelta(minutes=current_app.config["MESSAGING_ALERT_DEDUPE_MINUTES"])
        recent = session.scalar(
            select(Alert).where(Alert.dedupe_key == dedupe_key, Alert.created_at > now - window)
            .order_by(Alert.created_at.desc()).limit(1)
        )
        if recent is not None:
            recent.repeat_count = (recent.repeat_count or 0) + 1
            recent.last_repeat_at = now
            return None
        slot = int(now.timestamp() // window.total_seconds())
    alert = Alert(
        group_id=group.id, kind=kind[:40], title=title[:200], body=body, ref_type=ref_type,
        ref_id=str(ref_id)[:60] if ref_id is not None else None, dedupe_key=dedupe_key, dedupe_slot=slot,
        created_at=now, repeat_count=0,
    )
    try:
        with session.begin_nested():
            session.add(alert)
    except IntegrityError:  # a concurrent trigger with the same key won
        return None
    members = [u for u in group.members if u.active]
    for user in members:
        note = add_notification(session, user.id, kind[:40], title[:200], body=body, link=f"/messaging/alerts/{alert.id}",
                                ref_type="alert", ref_id=alert.id)
        session.flush()
        message = None
        if group.whatsapp:
            message = whatsapp_person(session, user.id, title=title, body=body,
                                      idempotency_key=f"alert:{alert.id}:user:{user.id}", ref_type="alert", ref_id=alert.id)
        session.add(AlertRecipient(alert_id=alert.id, user_id=user.id, notification_id=note.id,
                                   message_id=message.id if message else None))
    session.flush()
    return alert


def resolve_alert(session: Session, alert_id: Any, by_user_id: Optional[int], resolution: Optional[str] = None) -> Alert:
    """Close an alert with who resolved it and how; resolving twice is a Conflict. Caller commits."""
    alert = get_or_404(session, Alert, alert_id, "alert")
    if alert.resolved_at is not None:
        raise Conflict(f"alert {alert.id} is already resolved")
    alert.resolved_at = utcnow()
    alert.resolved_by_id = by_user_id
    alert.resolution = (resolution or "").strip()[:2000] or None
    return alert


def alert_json(alert: Alert) -> dict:
    return {
        "id": alert.id, "group": alert.group.code, "kind": alert.kind, "title": alert.title, "body": alert.body,
        "ref_type": alert.ref_type, "ref_id": alert.ref_id, "dedupe_key": alert.dedupe_key,
        "repeat_count": alert.repeat_count, "created_at": iso_utc(alert.created_at),
        "resolved_at": iso_utc(alert.resolved_at),
        "resolved_by": alert.resolved_by.username if alert.resolved_by else None, "resolution": alert.resolution,
        "recipients": [
            {"user_id": r.user_id, "username": r.user.username, "notification_id": r.notification_id,
             "message_id": r.message_id, "delivery_status": r.delivery_status}
            for r in alert.recipients
        ],
    }
