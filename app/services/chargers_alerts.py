"""Charger alerts (faulted, offline, fault cleared): the one path every charger alert takes.

With the charger alert group configured (MESSAGING_CHARGER_ALERT_GROUP, active), a Faulted/Offline
charger alerts that group (WhatsApp + in-app, in the alert history) and a cleared fault resolves the
charger's open alerts; otherwise every CHARGER_ALERT_ROLES person gets an in-app notification.
Either way at most one per charger and kind per MESSAGING_ALERT_DEDUPE_MINUTES (a flapping charger
does not flood people).

Services flush; the caller commits.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Optional

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.chargers import Charger
from app.models.messaging import Alert, Notification, NotificationGroup
from app.services import InvalidInput
from app.services.messaging_alerts import alert_group, resolve_alert
from app.services.notifications import notify_user
from app.services.people import active_users_with_roles

ALERT_TEXT = {
    "charger_faulted": "Charger {cid} is faulted",
    "charger_offline": "Charger {cid} went offline",
    "fault_cleared": "Charger {cid}: fault cleared",
}


def dedupe_window() -> timedelta:
    """One window for every charger alert, group or in-app."""
    return timedelta(minutes=current_app.config["MESSAGING_ALERT_DEDUPE_MINUTES"])


def alert_charger_event(session: Session, charger_id: int, kind: str, detail: str = "") -> int:
    """Tell the people who watch the network (see the module docstring); returns how many were told."""
    charger = session.get(Charger, charger_id)
    if charger is None or kind not in ALERT_TEXT:
        return 0
    if _charger_alert_group_active(session):
        return _alert_charger_group(session, charger, kind, detail)
    recent = session.scalar(
        select(func.count()).select_from(Notification).where(
            Notification.kind == kind, Notification.ref_type == "charger",
            Notification.ref_id == charger_id, Notification.created_at >= utcnow() - dedupe_window(),
        )
    )
    if recent:
        return 0
    users = active_users_with_roles(session, current_app.config["CHARGER_ALERT_ROLES"])
    title = ALERT_TEXT[kind].format(cid=charger.cid)
    for user in users:
        notify_user(
            session, user.id, kind, title, body=detail or None,
            link=f"/chargers/network/{charger.cid}", ref_type="charger", ref_id=charger_id,
        )
    return len(users)


def alert_charger_status(session: Session, cid: str, status: str, *, error_code: Optional[str] = None,
                         info: Optional[str] = None, now: Optional[datetime] = None) -> Optional[Alert]:
    """A charger went Faulted or Offline: alert MESSAGING_CHARGER_ALERT_GROUP, once per charger and
    status per de-duplication window (None for a repeat, counted on the first alert)."""
    status = (status or "").strip().capitalize()
    if status not in ("Faulted", "Offline"):
        raise InvalidInput("status must be Faulted or Offline")
    details = ", ".join(part for part in (f"error {error_code}" if error_code and error_code != "NoError" else None, info) if part)
    return alert_group(
        session, current_app.config["MESSAGING_CHARGER_ALERT_GROUP"], kind=f"charger_{status.lower()}",
        title=f"Charger {cid} is {status}", body=details or None, ref_type="charger", ref_id=cid,
        dedupe_key=f"charger:{cid}:{status}", now=now,
    )


def _charger_alert_group_active(session: Session) -> bool:
    code = current_app.config["MESSAGING_CHARGER_ALERT_GROUP"]
    return bool(session.scalar(select(NotificationGroup.active).where(NotificationGroup.code == code)))


def _alert_charger_group(session: Session, charger: Charger, kind: str, detail: str) -> int:
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
