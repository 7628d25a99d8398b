"""Network health: heartbeat figures, the offline sweep and the raw-stream retention.

Services flush; the caller commits.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import case, delete, func, or_, select, update
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.chargers import (
    Charger,
    ChargerMessage,
)
from app.services.chargers import _cfg, list_network


def heartbeat_health(session: Session, now: Optional[datetime] = None) -> dict:
    """Online/offline counts, average heartbeat interval/gap, and the chargers with degraded connectivity."""
    now = now or utcnow()
    is_offline = or_(Charger.offline_after.is_(None), Charger.offline_after < now)
    counts = session.execute(
        select(
            func.sum(case((is_offline, 0), else_=1)),
            func.sum(case((is_offline, 1), else_=0)),
            func.avg(Charger.heartbeat_interval),
            func.avg(case((is_offline, None), else_=Charger.last_heartbeat_gap)),
        )
    ).one()
    degraded = list_network(session, bucket="Weak Signal", page_size=100, now=now)["result"]
    return {
        "online": int(counts[0] or 0),
        "offline": int(counts[1] or 0),
        "average_heartbeat_interval_s": round(float(counts[2]), 1) if counts[2] is not None else None,
        "average_heartbeat_gap_s": round(float(counts[3]), 1) if counts[3] is not None else None,
        "degraded": degraded,
    }


# --- offline sweep, alerts, retention ---------------------------------------------------------

def sweep_offline(session: Session, now: Optional[datetime] = None) -> list[int]:
    """One UPDATE for the whole fleet: mark chargers past their threshold offline, return those that just crossed."""
    now = now or utcnow()
    crossed = session.execute(
        update(Charger)
        .where(Charger.offline.is_(False), Charger.offline_after < now)
        .values(offline=True)
        .returning(Charger.id)
    ).scalars().all()
    return list(crossed)


def prune_messages(session: Session, now: Optional[datetime] = None) -> int:
    """Retention of the raw stream (age and rows per charger), set-based; it also bounds the ingest's dedup window."""
    now = now or utcnow()
    removed = session.execute(
        delete(ChargerMessage).where(
            ChargerMessage.received_at < now - timedelta(hours=_cfg("CHARGER_MESSAGE_RETENTION_HOURS"))
        )
    ).rowcount
    ranked = select(
        ChargerMessage.id,
        func.row_number().over(partition_by=ChargerMessage.charger_id, order_by=ChargerMessage.id.desc()).label("rn"),
    ).subquery()
    excess = select(ranked.c.id).where(ranked.c.rn > _cfg("CHARGER_MESSAGE_MAX_PER_CHARGER"))
    removed += session.execute(
        delete(ChargerMessage).where(ChargerMessage.id.in_(excess)).execution_options(synchronize_session=False)
    ).rowcount
    return removed

