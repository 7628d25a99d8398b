"""Charger alerts (faulted, offline, fault cleared): the alert group when configured, in-app
notifications otherwise, one per charger and kind per de-duplication window.

Services flush; the caller commits.
"""
from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.chargers import (
    Charger,
)
from app.services.chargers import _cfg


ALERT_TEXT = {
    "charger_faulted": "Charger {cid} is faulted",
    "charger_offline": "Charger {cid} went offline",
    "fault_cleared": "Charger {cid}: fault cleared",
}


def alert_charger_event(session: Session, charger_id: int, kind: str, detail: str = "") -> int:
    """Tell the people who watch the network. With the charger alert group configured (Messaging), a
    Faulted/Offline charger alerts that group (WhatsApp + in-app, in the alert history) and a cleared
    fault resolves the charger's open alerts; otherwise every CPO/Manager gets an in-app notification.
    At most one per charger and kind per de-duplication window either way."""
    from app.models.messaging import Notification
    from app.services.notifications import notify_user
    from app.services.people import active_users_with_roles

    charger = session.get(Charger, charger_id)
    if charger is None or kind not in ALERT_TEXT:
        return 0
    if _charger_alert_group_active(session):
        return _alert_charger_group(session, charger, kind, detail)
    since = utcnow() - timedelta(seconds=_cfg("CHARGER_ALERT_DEDUP_SECONDS"))
    recent = session.scalar(
        select(func.count()).select_from(Notification).where(
            Notification.kind == kind, Notification.ref_type == "charger",
            Notification.ref_id == charger_id, Notification.created_at >= since,
        )
    )
    if recent:
        return 0  # a flapping charger does not flood people
    users = active_users_with_roles(session, _cfg("CHARGER_ALERT_ROLES"))
    title = ALERT_TEXT[kind].format(cid=charger.cid)
    for user in users:
        notify_user(
            session, user.id, kind, title, body=detail or None,
            link=f"/chargers/network/{charger.cid}", ref_type="charger", ref_id=charger_id,
        )
    return len(users)


def _charger_alert_group_active(session: Session) -> bool:
    from app.models.messaging import NotificationGroup

    code = current_app.config["MESSAGING_CHARGER_ALERT_GROUP"]
    return bool(session.scalar(select(NotificationGroup.active).where(NotificationGroup.code == code)))


def _alert_charger_group(session: Session, charger: Charger, kind: str, detail: str) -> int:
    from app.models.messaging import Alert
    from app.services.messaging_alerts import alert_charger_status, resolve_alert

    if kind == "fault_cleared":
        open_alerts = session.scalars(
            select(Alert.id).where(Alert.ref_type == "charger", Alert.ref_id == charger.cid,
                                   Alert.kind == "charger_faulted", Alert.resolved_at.is_(None))
        ).all()
        for alert_id in open_alerts:
            resolve_alert(session, alert_id, None, f"Fault cleared by the charger. {detail}".strip())
        return len(open_alerts)
    status = "Faulted" if kind == "charger_faulted" else "Offline"
    alert = alert_charger_status(session, charger.cid, status, info=detail or None)
    return len(alert.recipients) if alert is not None else 0

