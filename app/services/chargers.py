"""Chargers: identities, the offline threshold, what counts as a fault, status buckets and the network list.

The other charger aggregates have modules of their own: chargers_commands, chargers_sessions,
chargers_status (one charger's page), chargers_health (sweeps, retention), chargers_alerts,
chargers_registry; the ingest is chargers_ingest (receiver), ingest_writer and ocpp_rules.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Optional

from flask import current_app
from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.chargers import (
    CHARGER_TYPES,
    Charger,
    Connector,
)
from app.services import InvalidInput, NotFound

log = logging.getLogger(__name__)

BUCKETS = ("Offline", "Faulted", "Weak Signal", "Charging", "Available")  # precedence, first match wins
CHARGING_STATUSES = ("Charging", "SuspendedEV", "SuspendedEVSE")
CID_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")


def valid_cid(cid: str) -> bool:
    return isinstance(cid, str) and 1 <= len(cid) <= 48 and set(cid) <= CID_CHARS


def _cfg(name: str):
    return current_app.config[name]


# --- thresholds ------------------------------------------------------------------------------

def offline_threshold(heartbeat_interval: Optional[int]) -> timedelta:
    """CHARGER_OFFLINE_AFTER if set, else 3 x the heartbeat interval (300 s when unknown)."""
    fixed = _cfg("CHARGER_OFFLINE_AFTER")
    if fixed:
        return timedelta(seconds=fixed)
    interval = heartbeat_interval or _cfg("CHARGER_DEFAULT_HEARTBEAT_INTERVAL")
    return timedelta(seconds=_cfg("CHARGER_OFFLINE_HEARTBEATS") * interval)


# --- status buckets (set-based) --------------------------------------------------------------

def is_fault(status: Optional[str], error_code: Optional[str]) -> bool:
    """The contract's Faulted: the status says so, or any errorCode other than NoError (bucket_expression in SQL)."""
    return status == "Faulted" or (error_code is not None and error_code != "NoError")


FAULTED_CONNECTOR = or_(Connector.status == "Faulted",
                        and_(Connector.error_code.is_not(None), Connector.error_code != "NoError"))
CHARGING_CONNECTOR = Connector.status.in_(CHARGING_STATUSES)
# the network list's default order: what needs someone first
LIST_ORDER = ("Faulted", "Offline", "Weak Signal", "Charging", "Available")
SORTS = {"cid": Charger.cid, "name": Charger.name, "last_seen": Charger.last_seen}


def _bucket_rules(now: datetime):
    """The contract's bucket conditions over charger + its connectors, in precedence order."""
    # uncorrelated IN: the database builds each (small, partially indexed) set once and hashes it,
    # instead of probing the connectors of every one of 100k chargers
    faulted = Charger.id.in_(select(Connector.charger_id).where(FAULTED_CONNECTOR))  # is_fault, in SQL
    charging = Charger.id.in_(select(Connector.charger_id).where(CHARGING_CONNECTOR))
    interval = func.coalesce(Charger.heartbeat_interval, _cfg("CHARGER_DEFAULT_HEARTBEAT_INTERVAL"))
    weak = or_(
        Charger.last_rssi < _cfg("CHARGER_WEAK_RSSI_DBM"),
        Charger.last_heartbeat_gap > interval * _cfg("CHARGER_LATE_HEARTBEAT_FACTOR"),
    )
    offline = or_(Charger.offline_after.is_(None), Charger.offline_after < now)
    return (("Offline", offline), ("Faulted", faulted), ("Weak Signal", weak), ("Charging", charging))


def bucket_expression(now: datetime):
    """The contract's buckets as one SQL CASE over charger + its connectors."""
    return case(*((rule, literal(name)) for name, rule in _bucket_rules(now)), else_=literal("Available"))


def bucket_rank_expression(now: datetime):
    """The same CASE, answering the bucket's place in LIST_ORDER (one CASE to sort and filter the list by)."""
    return case(*((rule, LIST_ORDER.index(name)) for name, rule in _bucket_rules(now)),
                else_=LIST_ORDER.index("Available"))


def network_summary(session: Session, now: Optional[datetime] = None) -> dict:
    """Bucket counts per charger type: {"L2": {"Available": n, ...}, "L3": {...}} (the dashboard panel)."""
    bucket = bucket_expression(now or utcnow()).label("bucket")
    rows = session.execute(
        select(Charger.type, bucket, func.count()).group_by(Charger.type, bucket)
    ).all()
    summary = {t: {b: 0 for b in BUCKETS} for t in CHARGER_TYPES}
    for ctype, name, count in rows:
        summary.setdefault(ctype, {b: 0 for b in BUCKETS})[name] = count
    return summary


def list_network(
    session: Session,
    bucket: Optional[str] = None,
    ctype: Optional[str] = None,
    q: Optional[str] = None,
    page: int = 0,
    page_size: int = 50,
    now: Optional[datetime] = None,
    sort: Optional[str] = None,
) -> dict:
    """The network list: faults, then offline, weak signal, charging, available, then by cid; or
    `sort` = cid|name|last_seen (-descending). `count` is the number of chargers the filter matches."""
    if bucket and bucket not in BUCKETS:
        raise InvalidInput(f"bucket must be one of {', '.join(BUCKETS)}")
    if ctype and ctype not in CHARGER_TYPES:
        raise InvalidInput("type must be L2 or L3")
    if page < 0:
        raise InvalidInput("page must be 0 or more")
    now = now or utcnow()
    rank = bucket_rank_expression(now)
    # only the columns the list shows: the sort moves narrow rows, not whole charger records
    query = select(Charger.cid, Charger.name, Charger.type, Charger.site, Charger.last_seen, Charger.last_rssi,
                   Charger.latitude, Charger.longitude, rank.label("rank"))
    if bucket:
        rules = dict(_bucket_rules(now))
        if bucket in rules:  # the bucket's own rule first: cheap to test, or a small set to join
            query = query.where(rules[bucket])
        query = query.where(rank == LIST_ORDER.index(bucket))
    if ctype:
        query = query.where(Charger.type == ctype)
    if q:
        like = f"%{q.strip()}%"
        query = query.where(or_(Charger.cid.ilike(like), Charger.name.ilike(like), Charger.site.ilike(like)))
    field = (sort or "").lstrip("-")
    if sort and field not in SORTS:
        raise InvalidInput("sort must be cid, name or last_seen, with - for descending")
    if sort:
        column = SORTS[field]
        order = [column.desc() if sort.startswith("-") else column.asc(), Charger.id]
    else:
        order = [rank, Charger.cid]
    # the count leaves the bucket out of its columns: without a bucket filter it is a plain count
    count = session.scalar(query.with_only_columns(func.count(), maintain_column_froms=True))
    rows = session.execute(query.order_by(*order).limit(page_size).offset(page * page_size)).all()
    return {
        "count": count, "page": page, "page_size": page_size,
        "result": [
            {
                "cid": c.cid, "name": c.name, "type": c.type, "bucket": LIST_ORDER[c.rank], "site": c.site,
                "last_seen": _iso(c.last_seen), "rssi_dbm": c.last_rssi,
                "latitude": c.latitude, "longitude": c.longitude,
            }
            for c in rows
        ],
    }


def get_charger(session: Session, cid: str) -> Charger:
    charger = session.scalar(select(Charger).where(Charger.cid == cid))
    if charger is None:
        raise NotFound(f"no charger {cid}")
    return charger


def bucket_of(session: Session, charger_id: int, now: Optional[datetime] = None) -> str:
    return session.scalar(select(bucket_expression(now or utcnow())).where(Charger.id == charger_id))


def _iso(value: Optional[datetime]) -> Optional[str]:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None

