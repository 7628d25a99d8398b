"""Alerts people act on: many chargers going Offline at once (a site, the network, a broker outage) is one
alert with the count and the list; fewer are alerted one by one as before (de-duplicated per charger)."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Optional

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.chargers import Charger
from app.models.messaging import NotificationGroup
from app.security import CPO, MANAGER
from app.services.messaging_alerts import alert_group
from app.services.notifications import notify, recipients_for
from sqlalchemy import func
from app.models.messaging import Notification


def offline_alerts(session: Session, crossed: list[int], now: Optional[datetime] = None) -> list[int]:
    """Given the chargers the sweep just marked offline: when the chargers that crossed their offline
    threshold (offline_after) within CHARGER_MASS_OFFLINE_WINDOW_S reach CHARGER_MASS_OFFLINE_MIN, send ONE
    mass alert listing them (repeats within the de-duplication window count on it) and return only the
    others to alert one by one; otherwise return `crossed` unchanged."""
    if not crossed:
        return []
    now = now or utcnow()
    window = timedelta(seconds=current_app.config["CHARGER_MASS_OFFLINE_WINDOW_S"])
    # offline_after is the moment each charger crossed its threshold
    recent = session.execute(
        select(Charger.id, Charger.cid, Charger.site).where(
            Charger.offline.is_(True), Charger.offline_after >= now - window, Charger.offline_after <= now,
        ).order_by(Charger.cid)
    ).all()
    ids = {r.id for r in recent}
    if len(ids) < current_app.config["CHARGER_MASS_OFFLINE_MIN"] or not ids & set(crossed):
        return crossed
    rows = list(recent)
    sites = sorted({r.site for r in rows if r.site})
    where = f"site {sites[0]}" if len(sites) == 1 else "the network"
    title = f"{len(ids)} chargers went offline ({where})"
    body = "Chargers: " + ", ".join(r.cid for r in rows)
    _send_mass_alert(session, title, body, now)
    return [c for c in crossed if c not in ids]  # went offline long before the window: alerted on their own


def _send_mass_alert(session: Session, title: str, body: str, now: datetime) -> None:
    code = current_app.config["MESSAGING_CHARGER_ALERT_GROUP"]
    if session.scalar(select(NotificationGroup.active).where(NotificationGroup.code == code)):
        alert_group(session, code, kind="network_offline", title=title, body=body, ref_type="network",
                    ref_id="offline", dedupe_key="network:offline", now=now)
        return


    window = timedelta(minutes=current_app.config["MESSAGING_ALERT_DEDUPE_MINUTES"])
    if session.scalar(select(func.count()).select_from(Notification).where(
            Notification.kind == "network_offline", Notification.created_at > now - window)):
        return  # the outage is already announced; the list on the screen is live
    users = recipients_for(session, role=CPO) + recipients_for(session, role=MANAGER)
    notify(session, users, "network_offline", title, body=body, link="/chargers/network/?bucket=Offline",
           ref_type="network", ref_id=None)
