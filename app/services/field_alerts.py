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


def offline_alerts(session: Session, crossed: list[int], now: Optional[datetime] = None) -> list[int]:
    """Given the chargers the sweep just marked offline: when, with those that went offline within
    CHARGER_MASS_OFFLINE_WINDOW_S, they reach CHARGER_MASS_OFFLINE_MIN, send ONE mass alert (repeats within
    the de-duplication window count on it) and return no one to alert singly; otherwise return `crossed`."""
    if not crossed:
        return []
    now = now or utcnow()
    window = timedelta(seconds=current_app.config["CHARGER_MASS_OFFLINE_WINDOW_S"])
    # offline_after is the moment each charger crossed its threshold
    recent = session.execute(
        select(Charger.id, Charger.cid, Charger.site).where(
            Charger.offline.is_(True), Charger.offline_after >= now - window - timedelta(seconds=60),
        ).order_by(Charger.cid)
    ).all()
    ids = {r.id for r in recent} | set(crossed)
    if len(ids) < current_app.config["CHARGER_MASS_OFFLINE_MIN"]:
        return crossed
    rows = [r for r in recent if r.id in ids]
    sites = sorted({r.site for r in rows if r.site})
    where = f"site {sites[0]}" if len(sites) == 1 else "the network"
    title = f"{len(ids)} chargers went offline ({where})"
    body = "Chargers: " + ", ".join(r.cid for r in rows)
    _send_mass_alert(session, title, body, now)
    return []


def _send_mass_alert(session: Session, title: str, body: str, now: datetime) -> None:
    from app.models.messaging import NotificationGroup
    from app.security import CPO, MANAGER
    from app.services.messaging_alerts import alert_group
    from app.services.notifications import notify, recipients_for

    code = current_app.config["MESSAGING_CHARGER_ALERT_GROUP"]
    if session.scalar(select(NotificationGroup.active).where(NotificationGroup.code == code)):
        alert_group(session, code, kind="network_offline", title=title, body=body, ref_type="network",
                    ref_id="offline", dedupe_key="network:offline", now=now)
        return
    users = recipients_for(session, role=CPO) + recipients_for(session, role=MANAGER)
    notify(session, users, "network_offline", title, body=body, link="/chargers/network/?bucket=Offline",
           ref_type="network", ref_id=None)
