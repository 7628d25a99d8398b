"""What the field app (the PWA at /app/) reads beyond the v1 API: the caller's capabilities and the map's points."""
from __future__ import annotations

from datetime import datetime
from typing import Callable, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.chargers import Charger
from app.services.chargers import bucket_expression
from app.models.chargers import ChargingSession
from app.models.customers import Customer, CustomerTag
from app.services import NotFound
from app.services.chargers_sessions import session_json
from datetime import timedelta
from flask import current_app
from sqlalchemy import delete
from app.models.field_app import IdempotencyKey
from app.models.chargers import Connector
from app.services.chargers_sessions import active_sessions

# tab or panel -> (resource, permission) in PERMISSION_MATRIX; the app shows what the person may use
CAPABILITIES = {
    "network": ("ChargerNetwork", "can_read"),
    "live": ("LiveStream", "can_read"),
    "sessions": ("ChargerNetwork", "can_read"),
    "commands": ("ChargerCommand", "can_write"),
    "customers": ("CustomerSearch", "can_read"),
    "issues": ("ChargerIssue", "can_write"),
    "maintenance": ("MaintenanceTask", "can_write"),
    "force_charge": ("ForceCharge", "can_write"),
    "tickets": ("Ticket", "can_read"),
    "alerts": ("Alert", "can_read"),
}
CURRENT_OF_TYPE = {"L3": "DC", "L2": "AC"}  # L3 chargers are DC fast chargers, L2 are AC
MAP_LIMIT = 20000


def capabilities(may: Callable[[str, str], bool]) -> dict[str, bool]:
    """{name: allowed} for the caller, `may(permission, resource)` being the security manager's has_access."""
    return {name: bool(may(permission, resource)) for name, (resource, permission) in CAPABILITIES.items()}


def map_points(session: Session, now: Optional[datetime] = None) -> list[dict]:
    """Every charger with a position: its current (DC/AC), bucket and whether it is offline."""
    bucket = bucket_expression(now or utcnow()).label("bucket")
    rows = session.execute(
        select(Charger.cid, Charger.name, Charger.type, Charger.site, Charger.latitude, Charger.longitude, bucket)
        .where(Charger.latitude.is_not(None), Charger.longitude.is_not(None)).order_by(Charger.cid).limit(MAP_LIMIT)
    ).all()
    return [
        {"cid": r.cid, "name": r.name, "type": r.type, "current": CURRENT_OF_TYPE.get(r.type, "AC"), "site": r.site,
         "lat": r.latitude, "lng": r.longitude, "bucket": r.bucket, "offline": r.bucket == "Offline"}
        for r in rows
    ]


def customer_sessions(session: Session, customer_id: int, limit: int = 10) -> list[dict]:
    """The customer's latest charging sessions: those started with one of the customer's tags."""

    if session.get(Customer, customer_id) is None:
        raise NotFound(f"customer {customer_id} not found")
    tags = select(CustomerTag.tag).where(CustomerTag.customer_id == customer_id)
    rows = session.scalars(select(ChargingSession).where(ChargingSession.id_tag.in_(tags))
                           .order_by(ChargingSession.id.desc()).limit(limit)).all()
    return [session_json(s) for s in rows]


def prune_idempotency_keys(session: Session, now: Optional[datetime] = None, keep_days: Optional[int] = None) -> int:
    """Forget the keys of writes older than IDEMPOTENCY_KEEP_DAYS (a phone resends within hours, not weeks)."""



    days = keep_days if keep_days is not None else current_app.config["IDEMPOTENCY_KEEP_DAYS"]
    cutoff = (now or utcnow()) - timedelta(days=days)
    return session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff)).rowcount


def sessions_with_connectors(session: Session) -> list[dict]:
    """The active sessions (as the network's list has them), each with its connector's current status."""

    rows = active_sessions(session)
    cids = {r["cid"] for r in rows}
    status = {}
    if cids:
        status = {(cid, n): (s, e) for cid, n, s, e in session.execute(
            select(Charger.cid, Connector.connector_id, Connector.status, Connector.error_code)
            .join(Connector, Connector.charger_id == Charger.id).where(Charger.cid.in_(cids)))}
    for r in rows:
        r["connector_status"], r["connector_error"] = status.get((r["cid"], r["connector_id"]), (None, None))
    return rows
