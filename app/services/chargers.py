"""Chargers: status buckets, network views, remote commands, offline sweep, alerts, retention.

Everything here is a plain function taking a session; the ingest (chargers_ingest), the API,
the screens and the Celery tasks all call these.
"""
from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any, Optional

from flask import current_app
from sqlalchemy import and_, case, delete, event, func, inspect, literal, or_, select, update
from sqlalchemy.orm import Session, joinedload

from app.models.base import utcnow
from app.models.chargers import (
    CHARGER_TYPES,
    BucketSnapshot,
    Charger,
    ChargerCommand,
    ChargerFault,
    ChargerMessage,
    ChargingSession,
    Connector,
)
from app.services import Conflict, InvalidInput, NotFound
from app.services.outbox import enqueue_after_commit
from app.services.chargers_ocpp import link_summary
from app.services.people import require_capability

log = logging.getLogger(__name__)

BUCKETS = ("Offline", "Faulted", "Weak Signal", "Charging", "Available")  # precedence, first match wins
CHARGING_STATUSES = ("Charging", "SuspendedEV", "SuspendedEVSE")
IN_FLIGHT = ("Pending", "Sent")
FINAL_STATUSES_OPEN = ("Queued",) + IN_FLIGHT
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
        like = f"%{q.strip()}%"
        filters.append(or_(Charger.cid.ilike(like), Charger.name.ilike(like), Charger.site.ilike(like)))
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
            if skip:  # a deep page: count only the buckets it skips whole
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


def charger_detail(session: Session, cid: str, messages: int = 30) -> dict:
    """The live charger page / contract `GET /network/chargers/<cid>` body."""
    charger = get_charger(session, cid)
    sessions = session.scalars(
        select(ChargingSession).where(ChargingSession.charger_id == charger.id)
        .order_by(ChargingSession.id.desc()).limit(10)
    ).all()
    commands = session.scalars(
        select(ChargerCommand).where(ChargerCommand.charger_id == charger.id)
        .order_by(ChargerCommand.id.desc()).limit(10)
    ).all()
    faults = session.scalars(
        select(ChargerFault).where(ChargerFault.charger_id == charger.id).order_by(ChargerFault.id.desc()).limit(20)
    ).all()
    return {
        "cid": charger.cid,
        "name": charger.name,
        "type": charger.type,
        "bucket": bucket_of(session, charger.id),
        "last_seen": _iso(charger.last_seen),
        "site": charger.site,
        "address": charger.address,
        "power_kw": charger.power_kw,
        "vendor": charger.vendor,
        "model": charger.model,
        "serial": charger.serial,
        "firmware_version": charger.firmware_version,
        "firmware_status": charger.firmware_status,
        "diagnostics_status": charger.diagnostics_status,
        "heartbeat_interval": charger.heartbeat_interval,
        "last_heartbeat_gap": charger.last_heartbeat_gap,
        "rssi_dbm": charger.last_rssi,
        "temperature_c": charger.temperature_c,
        "unregistered": charger.unregistered,
        "ocpp": link_summary(session, charger.id),  # connected to an OCPP gateway, and since when
        "connectors": [
            {
                "connector_id": c.connector_id, "status": c.status, "error_code": c.error_code,
                "vendor_error_code": c.vendor_error_code, "updated_at": _iso(c.updated_at),
            }
            for c in charger.connectors
        ],
        "sessions": [session_json(s) for s in sessions],
        "commands": [command_json(c) for c in commands],
        "faults": [
            {
                "connector_id": f.connector_id, "error_code": f.error_code, "vendor_error_code": f.vendor_error_code,
                "nonstandard": f.nonstandard, "occurrences": f.occurrences, "first_seen": _iso(f.first_seen),
                "last_seen": _iso(f.last_seen), "cleared_at": _iso(f.cleared_at),
            }
            for f in faults
        ],
        "messages": recent_messages(session, charger.id, limit=messages),
    }


def recent_messages(session: Session, charger_id: int, after_id: int = 0, limit: int = 50) -> list[dict]:
    rows = session.scalars(
        select(ChargerMessage).where(ChargerMessage.charger_id == charger_id, ChargerMessage.id > after_id)
        .order_by(ChargerMessage.id.desc()).limit(limit)
    ).all()
    return [
        {
            "id": m.id, "direction": m.direction, "action": m.action, "msg_id": m.msg_id,
            "payload": m.payload, "flag": m.flag, "received_at": _iso(m.received_at),
        }
        for m in rows
    ]


def session_json(s: ChargingSession, now: Optional[datetime] = None) -> dict:
    end = s.stopped_at or (now or utcnow())
    return {
        "id": s.id, "cid": s.charger.cid if s.charger else None, "transaction_id": s.transaction_id,
        "connector_id": s.connector_id, "id_tag": s.id_tag, "status": s.status,
        "energy_kwh": round(s.energy_kwh or 0.0, 3), "power_kw": s.power_kw,
        "started_at": _iso(s.started_at), "stopped_at": _iso(s.stopped_at),
        "duration_s": int((end - s.started_at).total_seconds()) if s.started_at else None,
    }


def active_sessions(session: Session) -> list[dict]:
    now = utcnow()
    rows = session.scalars(
        select(ChargingSession).options(joinedload(ChargingSession.charger))
        .where(ChargingSession.status == "Active").order_by(ChargingSession.started_at.desc()).limit(500)
    ).all()
    return [session_json(s, now) for s in rows]


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


def sweep_command_timeouts(session: Session, now: Optional[datetime] = None) -> list[str]:
    """Backstop for the per-command countdown task: time out anything in flight past its deadline."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=_cfg("CHARGER_COMMAND_TIMEOUT"))
    ids = session.scalars(
        select(ChargerCommand.command_id).where(
            ChargerCommand.status.in_(IN_FLIGHT),
            or_(
                ChargerCommand.expires_at < now,  # the clock started when its turn came, not when it was queued
                ChargerCommand.sent_at < cutoff,
                and_(ChargerCommand.expires_at.is_(None), ChargerCommand.created_at < cutoff),
            ),
        )
    ).all()
    return [cid for cid in ids if time_out_command(session, cid, now=now)]


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


# --- remote commands ------------------------------------------------------------------------------

RESET_TYPES = ("Soft", "Hard")
AVAILABILITY = ("Inoperative", "Operative")
TRIGGERS = (
    "BootNotification", "DiagnosticsStatusNotification", "FirmwareStatusNotification",
    "Heartbeat", "MeterValues", "StatusNotification",
)


def _require(payload: dict, field: str, kind, what: str):
    if field not in payload:
        raise InvalidInput(f"payload.{field} is required ({what})")
    value = payload[field]
    if kind is int and (not isinstance(value, int) or isinstance(value, bool)):
        raise InvalidInput(f"payload.{field} must be an integer ({what})")
    if kind is str and (not isinstance(value, str) or not value):
        raise InvalidInput(f"payload.{field} must be a non-empty string ({what})")
    return value


def validate_command(action: Any, payload: Any) -> dict:
    """The OCPP 1.6 request shape of each action we send; anything else is a 400."""
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise InvalidInput("payload must be a JSON object")
    if action == "Reset":
        if payload.get("type") not in RESET_TYPES:
            raise InvalidInput("payload.type must be Soft or Hard")
    elif action == "RemoteStartTransaction":
        _require(payload, "idTag", str, "the RFID/app tag to charge for")
        if len(payload["idTag"]) > 20:
            raise InvalidInput("payload.idTag is at most 20 characters")
        if "connectorId" in payload:
            _require(payload, "connectorId", int, "connector to start on")
    elif action == "RemoteStopTransaction":
        _require(payload, "transactionId", int, "the transaction to stop")
    elif action == "UnlockConnector":
        _require(payload, "connectorId", int, "connector to unlock")
        if payload["connectorId"] < 1:
            raise InvalidInput("payload.connectorId must be 1 or more")
    elif action == "ChangeAvailability":
        _require(payload, "connectorId", int, "0 for the whole charger")
        if payload.get("type") not in AVAILABILITY:
            raise InvalidInput("payload.type must be Inoperative or Operative")
    elif action == "TriggerMessage":
        if payload.get("requestedMessage") not in TRIGGERS:
            raise InvalidInput(f"payload.requestedMessage must be one of {', '.join(TRIGGERS)}")
    elif action == "UpdateFirmware":
        _require(payload, "location", str, "URI of the firmware")
        _require(payload, "retrieveDate", str, "ISO-8601 time to start")
    elif action == "GetDiagnostics":
        _require(payload, "location", str, "URI to upload the diagnostics to")
    else:
        raise InvalidInput(
            "action must be one of Reset, RemoteStartTransaction, RemoteStopTransaction, UnlockConnector, "
            "ChangeAvailability, TriggerMessage, UpdateFirmware, GetDiagnostics"
        )
    return payload


def command_topic(prefix: str, cid: str, command_id: str) -> str:
    return f"{prefix}/chargers/{cid}/cmd/{command_id}"


def command_message(command: ChargerCommand) -> dict:
    return {"ts": _iso(command.sent_at or utcnow()), "action": command.action, "payload": json.loads(command.payload)}


def create_command(session: Session, cid: str, action: Any, payload: Any, user_id: Optional[int]) -> ChargerCommand:
    """Store the command; it goes out now (Pending) or waits its turn (Queued). Caller commits, then publishes.
    A charger that is Offline is refused at once (Conflict): the command would never reach it."""
    from app.services.people import record_activity

    payload = validate_command(action, payload)
    charger = get_charger(session, cid)
    if charger.offline_after is None or charger.offline_after < utcnow():  # the Offline bucket's own rule
        raise Conflict(f"charger {charger.cid} is Offline: the command would not be delivered")
    # take the charger's row lock first so two senders cannot both see "nothing in flight"
    session.execute(update(Charger).where(Charger.id == charger.id).values(commands_sent=Charger.commands_sent + 1))
    busy = session.scalar(
        select(func.count()).select_from(ChargerCommand).where(
            ChargerCommand.charger_id == charger.id, ChargerCommand.status.in_(FINAL_STATUSES_OPEN)
        )
    )
    command = ChargerCommand(
        command_id=str(uuid.uuid4()), charger_id=charger.id, action=action,
        payload=json.dumps(payload, separators=(",", ":")),
        status="Queued", created_by_id=user_id, created_at=utcnow(),
    )
    session.add(command)
    if not busy:
        _its_turn(session, command)
    session.flush()
    record_activity(
        session, user_id, "charger_command",
        f"{action} {json.dumps(payload)} to charger {cid} ({command.status.lower()})",
        ref_type="charger_command", ref_id=command.id,
    )
    return command


def _its_turn(session: Session, command: ChargerCommand) -> None:
    """The command may go out now, until its deadline; its time-out is queued for then (caller commits)."""
    timeout = _cfg("CHARGER_COMMAND_TIMEOUT")
    command.status = "Pending"
    command.expires_at = utcnow() + timedelta(seconds=timeout)
    enqueue_after_commit(session, "chargers.command_timeout", command.command_id, delay=timeout)


def publish_command(command_id: str) -> bool:
    """Publish a Pending command (after its row is committed) and mark it Sent once the broker has it.

    It goes out only before its deadline (expires_at), with the MQTT 5 message expiry interval set
    to what is left, so neither we nor the broker deliver it late. When the broker is away it stays
    Pending ("not delivered") and is tried again through the outbox until the deadline; then the
    time-out marks it Timeout, never sent. Returns whether it was published. Commits."""
    from app.extensions import db
    from app.integrations.mqtt import shared_publisher

    session = db.session
    command = session.scalar(select(ChargerCommand).where(ChargerCommand.command_id == command_id))
    if command is None or command.status != "Pending":
        session.rollback()
        return False
    now = utcnow()
    expires_at = command.expires_at or command.created_at + timedelta(seconds=_cfg("CHARGER_COMMAND_TIMEOUT"))
    left = (expires_at - now).total_seconds()
    if left <= 0.2:  # its deadline has come: never goes out
        session.rollback()
        return False
    body = json.dumps({"ts": _iso(now), "action": command.action, "payload": json.loads(command.payload)})
    topic = command_topic(_cfg("MQTT_TOPIC_PREFIX"), command.charger.cid, command.command_id)
    charger_id, action, payload = command.charger_id, command.action, command.payload
    session.rollback()  # no transaction held while waiting for the broker
    published = shared_publisher(_cfg("MQTT_URL")).publish(topic, body, timeout=min(5.0, left - 0.1), expiry=max(1, int(left)))
    if not published:
        retry_in = min(2.0, left - 0.5)
        if retry_in > 0:
            enqueue_after_commit(session, "chargers.publish_command", command_id, delay=retry_in)
            session.commit()
        return False
    # conditional: a result that came back meanwhile is not overwritten
    session.execute(update(ChargerCommand).where(
        ChargerCommand.command_id == command_id, ChargerCommand.status == "Pending",
    ).values(status="Sent", sent_at=now))
    session.add(ChargerMessage(
        charger_id=charger_id, direction="out", action=action, msg_id=command_id, payload=payload, received_at=now,
    ))
    session.commit()
    return True


def send_command(session: Session, cid: str, action: Any, payload: Any, user_id: Optional[int]) -> ChargerCommand:
    """Store, commit, publish (or queue): what the API and the charger page call. A person's department
    must hold the `charger_commands` capability (Forbidden otherwise)."""
    if user_id is not None:
        require_capability(session, user_id, "charger_commands")
    command = create_command(session, cid, action, payload, user_id)
    session.commit()
    if command.status == "Pending":
        publish_command(command.command_id)
    return command


def next_queued(session: Session, charger_id: int) -> Optional[ChargerCommand]:
    """Promote the oldest Queued command to Pending if nothing is in flight (caller commits and publishes)."""
    busy = session.scalar(
        select(func.count()).select_from(ChargerCommand).where(
            ChargerCommand.charger_id == charger_id, ChargerCommand.status.in_(IN_FLIGHT)
        )
    )
    if busy:
        return None
    command = session.scalar(
        select(ChargerCommand).where(ChargerCommand.charger_id == charger_id, ChargerCommand.status == "Queued")
        .order_by(ChargerCommand.id).limit(1)
    )
    if command is not None:
        _its_turn(session, command)
    return command


def time_out_command(session: Session, command_id: str, now: Optional[datetime] = None) -> bool:
    """Mark it Timeout if still unanswered; the next queued command then gets its turn (caller commits)."""
    command = session.scalar(select(ChargerCommand).where(ChargerCommand.command_id == command_id))
    if command is None or command.status not in IN_FLIGHT:
        return False
    command.status = "Timeout"
    command.timed_out_at = now or utcnow()
    return True


def release_after(session: Session, charger_id: int) -> Optional[str]:
    """After a command finished: promote and return the next one to publish (caller commits then publishes)."""
    command = next_queued(session, charger_id)
    return command.command_id if command else None


def record_result(session: Session, command: ChargerCommand, status: str, payload: Any, at: datetime) -> None:
    """A result on .../result: the OCPP conf status; a late one (after Timeout) is still recorded."""
    if command.status == "Timeout":
        command.late = True
    command.status = (status or "Unknown")[:20]
    command.result = json.dumps(payload if payload is not None else {}, separators=(",", ":"))
    command.answered_at = at


def get_command(session: Session, command_id: str) -> ChargerCommand:
    command = session.scalar(select(ChargerCommand).where(ChargerCommand.command_id == command_id))
    if command is None:
        raise NotFound(f"no command {command_id}")
    return command


def command_json(c: ChargerCommand) -> dict:
    return {
        "command_id": c.command_id, "cid": c.charger.cid if c.charger else None, "action": c.action,
        "payload": json.loads(c.payload or "{}"), "status": c.status,
        "delivered": c.sent_at is not None,  # handed to the broker; False for a Pending or Timeout never sent
        "result": json.loads(c.result) if c.result else None, "late": c.late,
        "created_by": c.created_by.username if c.created_by else None,
        "created_at": _iso(c.created_at), "sent_at": _iso(c.sent_at), "answered_at": _iso(c.answered_at),
    }


def check_registry_entry(session: Session, charger: Charger) -> None:
    """A registry entry: a valid OCPP identity, unique, of type L2 or L3."""
    if not valid_cid(charger.cid or ""):
        raise InvalidInput("cid must be 1-48 characters of A-Z a-z 0-9 . _ -")
    if charger.type not in CHARGER_TYPES:
        raise InvalidInput("type must be L2 or L3")
    if not (charger.name or "").strip():
        raise InvalidInput("name is required")
    with session.no_autoflush:
        other = session.scalar(select(Charger.id).where(Charger.cid == charger.cid, Charger.id != (charger.id or 0)))
    if other is not None:
        raise Conflict(f"a charger with identity {charger.cid} already exists")


def sessions_of_customer(session: Session, customer_id: int, limit: int = 20) -> list[tuple[ChargingSession, str]]:
    """The customer's charging sessions (matched by their RFID/id tags), newest first, with the charger's cid."""
    from app.models.customers import CustomerTag

    return list(session.execute(
        select(ChargingSession, Charger.cid).join(Charger, ChargingSession.charger_id == Charger.id)
        .join(CustomerTag, CustomerTag.tag == ChargingSession.id_tag)
        .where(CustomerTag.customer_id == customer_id)
        .order_by(ChargingSession.started_at.desc()).limit(limit)
    ).tuples())


def register_installed_charger(
    session: Session, *, ocpp_identity: str, serial: str, charger_type: Optional[str] = None,
    address: Optional[str] = None, latitude: Optional[float] = None, longitude: Optional[float] = None,
    job_code: Optional[str] = None, **_details,
) -> Charger:
    """A field team installed a charger: it enters the registry, ready for monitoring. If the charger
    spoke before it was registered (auto-registered by the ingest), that entry is completed instead."""
    charger = session.scalar(select(Charger).where(Charger.cid == ocpp_identity))
    if charger is None:
        charger = Charger(cid=ocpp_identity, name=f"{job_code or ocpp_identity} (installed)", heartbeat_interval=None)
        session.add(charger)
    text = (charger_type or "").upper()
    charger.type = "L3" if ("DC" in text or "L3" in text) else "L2"
    charger.serial, charger.address = serial, address or charger.address
    charger.latitude = latitude if latitude is not None else charger.latitude
    charger.longitude = longitude if longitude is not None else charger.longitude
    charger.site = charger.site or "Customer site"
    complete_registry_entry(session, charger)
    return charger


def complete_registry_entry(session: Session, charger: Charger) -> None:
    """Someone filled in the record: an auto-registered charger is registered from now on."""
    charger.unregistered = False
    check_registry_entry(session, charger)


def ensure_charger_can_be_deleted(session: Session, charger: Charger) -> None:
    if session.scalar(select(func.count()).select_from(ChargingSession).where(
            ChargingSession.charger_id == charger.id, ChargingSession.status == "Active")):
        raise Conflict("the charger has an active session")


def _iso(value: Optional[datetime]) -> Optional[str]:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None
