"""Charging sessions as the screens and the API show them.
"""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from app.services import iso_utc
from app.models.base import utcnow
from app.models.chargers import (
    Charger,
    ChargingSession,
)
from app.models.customers import CustomerTag


def session_json(s: ChargingSession, now: Optional[datetime] = None) -> dict:
    end = s.stopped_at or (now or utcnow())
    return {
        "id": s.id, "cid": s.charger.cid if s.charger else None, "transaction_id": s.transaction_id,
        "connector_id": s.connector_id, "id_tag": s.id_tag, "status": s.status,
        "energy_kwh": round(s.energy_kwh or 0.0, 3), "power_kw": s.power_kw,
        "started_at": iso_utc(s.started_at), "stopped_at": iso_utc(s.stopped_at),
        "duration_s": int((end - s.started_at).total_seconds()) if s.started_at else None,
    }


def active_sessions(session: Session) -> list[dict]:
    now = utcnow()
    rows = session.scalars(
        select(ChargingSession).options(joinedload(ChargingSession.charger))
        .where(ChargingSession.status == "Active").order_by(ChargingSession.started_at.desc()).limit(500)
    ).all()
    return [session_json(s, now) for s in rows]


def sessions_of_customer(session: Session, customer_id: int, limit: int = 20) -> list[tuple[ChargingSession, str]]:
    """The customer's charging sessions (matched by their RFID/id tags), newest first, with the charger's cid."""
    return list(session.execute(
        select(ChargingSession, Charger.cid).join(Charger, ChargingSession.charger_id == Charger.id)
        .join(CustomerTag, CustomerTag.tag == ChargingSession.id_tag)
        .where(CustomerTag.customer_id == customer_id)
        .order_by(ChargingSession.started_at.desc()).limit(limit)
    ).tuples())

