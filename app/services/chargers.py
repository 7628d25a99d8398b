"""Chargers: identities, the offline threshold, what counts as a fault, status buckets and the network list.

The other charger aggregates have modules of their own: chargers_commands, chargers_sessions,
chargers_status (one charger's page), chargers_health (sweeps, retention), chargers_alerts,
chargers_registry; the ingest is chargers_ingest (receiver), ingest_writer and ocpp_rules.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Optional

from flask import current_app
from sqlalchemy import and_, case, delete, event, func, inspect, literal, or_, select, update
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.chargers import (
    CHARGER_TYPES,
    BucketSnapshot,
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


def _condition_rules(correlated: bool = False):
    """The contract's bucket conditions over the charger's own state and its connectors, Offline left out."""
    if correlated:  # a few chargers: probe each one's connectors (partial indexes)
        def has(condition):
            return select(Connector.id).where(Connector.charger_id == Charger.id, condition).exists()
    else:  # the whole fleet: build each (small, partially indexed) set once and hash it
        def has(condition):
            return Charger.id.in_(select(Connector.charger_id).where(condition))
    interval = func.coalesce(Charger.heartbeat_interval, _cfg("CHARGER_DEFAULT_HEARTBEAT_INTERVAL"))
    weak = or_(
        Charger.last_rssi < _cfg("CHARGER_WEAK_RSSI_DBM"),
        Charger.last_heartbeat_gap > interval * _cfg("CHARGER_LATE_HEARTBEAT_FACTOR"),
    )
    return (("Faulted", has(FAULTED_CONNECTOR)), ("Weak Signal", weak), ("Charging", has(CHARGING_CONNECTOR)))


def _offline_rule(now: datetime):
    return or_(Charger.offline_after.is_(None), Charger.offline_after < now)


def _bucket_rules(now: datetime):
    """The contract's bucket conditions over charger + its connectors, in precedence order."""
    return (("Offline", _offline_rule(now)),) + _condition_rules()


def bucket_expression(now: datetime):
    """The contract's buckets as one SQL CASE over charger + its connectors."""
    return case(*((rule, literal(name)) for name, rule in _bucket_rules(now)), else_=literal("Available"))


def bucket_rank_expression(now: datetime):
    """The same CASE, answering the bucket's place in LIST_ORDER (one CASE to sort and filter the list by)."""
    return case(*((rule, LIST_ORDER.index(name)) for name, rule in _bucket_rules(now)),
                else_=LIST_ORDER.index("Available"))


def condition_rank_expression(correlated: bool = False):
    """What `Charger.condition_rank` must hold: bucket_rank_expression without the clock's Offline."""
    return case(*((rule, LIST_ORDER.index(name)) for name, rule in _condition_rules(correlated)),
                else_=LIST_ORDER.index("Available"))


def stored_rank_expression(now: datetime):
    """The bucket's place from the stored condition rank and the clock: what the list and the tiles read."""
    return case((_offline_rule(now), LIST_ORDER.index("Offline")), else_=Charger.condition_rank)


def _in_bucket(rank: int, now: datetime):
    """One bucket of the list as a condition the (condition_rank, cid) index serves."""
    if rank == LIST_ORDER.index("Offline"):
        return _offline_rule(now)
    return and_(Charger.condition_rank == rank, Charger.offline_after >= now)


def restamp_conditions(db, charger_ids: Optional[list[int]] = None) -> int:
    """Store `condition_rank` for these chargers (the ingest after each batch, the ORM after a flush), or for
    every charger whose stored rank is out of date (the sweep: a changed threshold, a writer that forgot).
    `db` is a session or a connection; writes only rows whose rank changed. Returns how many changed."""
    table = Charger.__table__
    if charger_ids is None:
        rank = condition_rank_expression()
        return db.execute(update(table).where(table.c.condition_rank != rank).values(condition_rank=rank)).rowcount
    rank = condition_rank_expression(correlated=True)
    ids, changed = sorted(set(charger_ids)), 0
    for start in range(0, len(ids), 500):
        changed += db.execute(update(table).where(table.c.id.in_(ids[start:start + 500]), table.c.condition_rank != rank)
                              .values(condition_rank=rank)).rowcount
    return changed


RANK_COLUMNS = ("last_rssi", "last_heartbeat_gap", "heartbeat_interval")


@event.listens_for(Session, "after_flush")
def _restamp_flushed(session: Session, flush_context) -> None:
    """Chargers and connectors written through the ORM (registry, demo, tests) keep their stored rank."""
    ids = set()
    for obj in list(session.new) + list(session.dirty) + list(session.deleted):
        if isinstance(obj, Connector) and obj.charger_id:
            ids.add(obj.charger_id)
        elif isinstance(obj, Charger) and obj.id and (
                obj in session.new or any(inspect(obj).attrs[name].history.has_changes() for name in RANK_COLUMNS)):
            ids.add(obj.id)
    if ids:
        restamp_conditions(session.connection(), sorted(ids))


def network_summary(session: Session, now: Optional[datetime] = None) -> dict:
    """Bucket counts per charger type: {"L2": {"Available": n, ...}, "L3": {...}} (the dashboard panel)."""
    rank = stored_rank_expression(now or utcnow()).label("rank")
    rows = session.execute(
        select(Charger.type, rank, func.count()).where(Charger.active.is_(True)).group_by(Charger.type, rank)
    ).all()
    summary = {t: {b: 0 for b in BUCKETS} for t in CHARGER_TYPES}
    for ctype, place, count in rows:
        summary.setdefault(ctype, {b: 0 for b in BUCKETS})[LIST_ORDER[place]] = count
    return summary


def search_condition(q: str):
    """The list's search: a part of the cid, name or site, in any case (served by ix_charger_search_trgm)."""
    like = f"%{q.strip()}%"
    return or_(Charger.cid.ilike(like), Charger.name.ilike(like), Charger.site.ilike(like))


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
    `sort` = cid|name|last_seen (-descending). `count` is the number of chargers the filter matches.

    At fleet size the default order is read bucket by bucket, each walked in cid order on (condition_rank, cid)
    until the page is full; a deep page first counts the buckets it skips."""
    if bucket and bucket not in BUCKETS:
        raise InvalidInput(f"bucket must be one of {', '.join(BUCKETS)}")
    if ctype and ctype not in CHARGER_TYPES:
        raise InvalidInput("type must be L2 or L3")
    if page < 0:
        raise InvalidInput("page must be 0 or more")
    field = (sort or "").lstrip("-")
    if sort and field not in SORTS:
        raise InvalidInput("sort must be cid, name or last_seen, with - for descending")
    now = now or utcnow()
    rank = stored_rank_expression(now)
    filters = [Charger.active.is_(True)]  # archived chargers leave the network list
    if bucket:
        filters.append(_in_bucket(LIST_ORDER.index(bucket), now))
    if ctype:
        filters.append(Charger.type == ctype)
    if q:
        filters.append(search_condition(q))
    # only the columns the list shows: the sort moves narrow rows, not whole charger records
    query = select(Charger.cid, Charger.name, Charger.type, Charger.site, Charger.last_seen, Charger.last_rssi,
                   Charger.latitude, Charger.longitude, rank.label("rank")).where(*filters)
    if sort:
        column = SORTS[field]
        order = [column.desc() if sort.startswith("-") else column.asc(), Charger.id]
        rows = session.execute(query.order_by(*order).limit(page_size).offset(page * page_size)).all()
    else:
        rows, skip = [], page * page_size
        for rank_no in range(len(LIST_ORDER)):
            wanted = page_size - len(rows)
            if wanted <= 0:
                break
            if skip and rank_no < len(LIST_ORDER) - 1:  # a deep page: count the buckets it may skip whole (the
                # last one needs no count: an offset past its end reads nothing)
                in_bucket = session.scalar(select(func.count()).select_from(Charger).where(*filters, _in_bucket(rank_no, now)))
                if skip >= in_bucket:
                    skip -= in_bucket
                    continue
            rows += session.execute(query.where(_in_bucket(rank_no, now)).order_by(Charger.cid)
                                    .limit(wanted).offset(skip)).all()
            skip = 0
    count, estimated = _filter_count(session, filters)
    return {
        "count": count, "count_estimated": estimated, "page": page, "page_size": page_size,
        "result": [
            {
                "cid": c.cid, "name": c.name, "type": c.type, "bucket": LIST_ORDER[c.rank], "site": c.site,
                "last_seen": _iso(c.last_seen), "rssi_dbm": c.last_rssi,
                "latitude": c.latitude, "longitude": c.longitude,
            }
            for c in rows
        ],
    }


def snapshot_buckets(session: Session, now: Optional[datetime] = None) -> int:
    """Keep the bucket counts per type for the current NETWORK_SNAPSHOT_MINUTES slot (once: the slot is the
    key), and drop snapshots older than NETWORK_SNAPSHOT_KEEP_DAYS. Returns the rows added."""
    now = now or utcnow()
    minutes = max(1, _cfg("NETWORK_SNAPSHOT_MINUTES"))
    slot = now.replace(second=0, microsecond=0) - timedelta(minutes=(now.hour * 60 + now.minute) % minutes)
    session.execute(delete(BucketSnapshot).where(
        BucketSnapshot.taken_at < now - timedelta(days=_cfg("NETWORK_SNAPSHOT_KEEP_DAYS"))))
    if session.scalar(select(func.count()).select_from(BucketSnapshot).where(BucketSnapshot.taken_at == slot)):
        return 0
    summary = network_summary(session, now)
    session.add_all([
        BucketSnapshot(taken_at=slot, charger_type=ctype, **{name.lower().replace(" ", "_"): n for name, n in counts.items()})
        for ctype, counts in summary.items()
    ])
    session.flush()
    return len(summary)


def _filter_count(session: Session, filters: list) -> tuple[int, bool]:
    """The number of chargers the filter matches; on PostgreSQL, when the planner expects more than
    NETWORK_EXACT_COUNT_MAX, its estimate (counting 100k rows costs more than the page): (count, estimated)."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        compiled = select(Charger.id).where(*filters).compile(dialect=conn.dialect)
        plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + str(compiled), compiled.params).scalar()
        plan = json.loads(plan) if isinstance(plan, str) else plan
        expected = int(plan[0]["Plan"]["Plan Rows"])
        if expected > _cfg("NETWORK_EXACT_COUNT_MAX"):
            return expected, True
    return session.scalar(select(func.count()).select_from(Charger).where(*filters)), False


def get_charger(session: Session, cid: str) -> Charger:
    charger = session.scalar(select(Charger).where(Charger.cid == cid))
    if charger is None:
        raise NotFound(f"no charger {cid}")
    return charger


def bucket_of(session: Session, charger_id: int, now: Optional[datetime] = None) -> str:
    return session.scalar(select(bucket_expression(now or utcnow())).where(Charger.id == charger_id))


def _iso(value: Optional[datetime]) -> Optional[str]:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None

