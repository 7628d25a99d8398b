"""The MQTT ingest: charger messages -> database, in batches, one transaction per batch.

paho's network thread only queues (on_message); batches of up to INGEST_BATCH_SIZE messages
(or what arrived within INGEST_BATCH_MS) go to the writer, in a process of its own by default.
The writer applies a batch with one SELECT per table and one write per table, commits once,
and only then are the messages acknowledged (manual_ack): a crash before the commit means the
broker redelivers them, and the raw stream, unique on (charger, msg_id), drops whatever was
already applied. Events that need side effects (faulted, fault cleared) go to Celery after
the commit.

Decisions where the contract is silent:
- An identity nobody registered is auto-registered (`unregistered` = True, type L2, name = cid)
  so its traffic is not lost; the registry screen lists them for someone to complete.
- StartTransaction carries the `transactionId` the gateway answered with (it is the OCPP
  conf's field; the charger side has no reply topic). Without it we derive a stable one
  from the msg_id and flag the message.
- The heartbeat gap is measured on the charger's `ts` (falls back to the receive time) so a
  backlog delivered at once after an outage does not look like a perfect heartbeat.
- Unknown values (error codes, statuses, measurands) are kept as sent and flagged on the raw
  message; an unknown error code still counts as a fault (it is "other than NoError").
"""
from __future__ import annotations

import gc
import json
import logging
import queue
import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Optional

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.chargers import (
    Charger,
    ChargerCommand,
    ChargerFault,
    ChargerMessage,
    ChargingSession,
    Connector,
)
from app.services import chargers_commands
from app.services import chargers
from app.services.outbox import enqueue_after_commit
from app.services import firmware

log = logging.getLogger("chargeops.ingest")

OCPP_ACTIONS = {
    "BootNotification", "Heartbeat", "StatusNotification", "MeterValues", "StartTransaction",
    "StopTransaction", "FirmwareStatusNotification", "DiagnosticsStatusNotification", "DataTransfer",
}
CONNECTOR_STATUSES = {
    "Available", "Preparing", "Charging", "SuspendedEVSE", "SuspendedEV", "Finishing",
    "Reserved", "Unavailable", "Faulted",
}
ERROR_CODES = {
    "ConnectorLockFailure", "EVCommunicationError", "GroundFailure", "HighTemperature", "InternalError",
    "LocalListConflict", "NoError", "OtherError", "OverCurrentFailure", "PowerMeterFailure",
    "PowerSwitchFailure", "ReaderFailure", "ResetFailure", "UnderVoltage", "OverVoltage", "WeakSignal",
}
CHUNK = 500  # IN-list size per SELECT
TRANSACTION_ACTIONS = ("StartTransaction", "StopTransaction", "MeterValues")


class State:
    """A plain mutable connector row: read per batch, written back in one upsert."""

    def __init__(self, **values):
        self.__dict__.update(values)


CONNECTOR_STATE = ("status", "error_code", "vendor_error_code", "info", "updated_at")


class ChargerUpdate:
    """What one batch does to one charger, written back as one UPDATE without reading the row first.

    `values` are plain assignments (telemetry, boot, firmware and diagnostics status); the heartbeat
    columns depend on what is stored (a gap is measured from the previous heartbeat), so without a
    boot in the batch they are computed by the UPDATE itself from the row's current values. Every
    statement is a blind or monotonic write, so several ingest processes sharing the subscription
    may update one charger in any order.
    """

    __slots__ = ("id", "cid", "heartbeat_interval", "seen", "values", "beats", "boot_at")

    def __init__(self, id: int, cid: str, heartbeat_interval: Optional[int]):
        self.id, self.cid, self.heartbeat_interval = id, cid, heartbeat_interval
        self.seen: Optional[datetime] = None
        self.values: dict[str, Any] = {}
        self.beats: list[datetime] = []  # heartbeat times since the last boot in this batch
        self.boot_at: Optional[datetime] = None

    def heartbeat_columns(self) -> tuple[Optional[datetime], Optional[datetime]]:
        """Without a boot: (latest, the one before it) for the UPDATE's own gap arithmetic.

        With a boot the result does not depend on the stored row: replayed here and set as plain values.
        """
        if self.boot_at is not None:
            last, gap = self.boot_at, None  # a reboot is not a late heartbeat
            for beat in self.beats:
                if beat > last:
                    last, gap = beat, (beat - last).total_seconds()
            self.values["last_heartbeat_at"], self.values["last_heartbeat_gap"] = last, gap
            return None, None
        if not self.beats:
            return None, None
        latest = max(self.beats)
        return latest, max((b for b in self.beats if b < latest), default=None)


class ChargerDirectory:
    """cid -> (id, heartbeat interval), kept by the ingest process so a batch reads no charger rows.

    Reloaded after `ttl` seconds (an edited heartbeat interval reaches offline_after within that
    time) and cleared whenever a batch fails (a charger deleted and registered again gets a new id).
    """

    def __init__(self, ttl: float = 60.0):
        self.ttl = ttl
        self._known: dict[str, tuple[int, Optional[int]]] = {}
        self._since = time.monotonic()

    def clear(self) -> None:
        self._known.clear()
        self._since = time.monotonic()

    def resolve(self, session: Session, cids: set[str]) -> dict[str, ChargerUpdate]:
        if time.monotonic() - self._since > self.ttl:
            self.clear()
        missing = cids - self._known.keys()
        if missing:
            self._load(session, missing)
            unknown = missing - self._known.keys()
            if unknown:
                _register_unknown(session, unknown)
                self._load(session, unknown)
        return {cid: ChargerUpdate(self._known[cid][0], cid, self._known[cid][1]) for cid in cids}

    def _load(self, session: Session, cids: set[str]) -> None:
        table = Charger.__table__
        for chunk in _chunks(sorted(cids)):
            for row in session.connection().execute(
                    select(table.c.id, table.c.cid, table.c.heartbeat_interval).where(table.c.cid.in_(chunk))):
                self._known[row.cid] = (row.id, row.heartbeat_interval)


def _register_unknown(session: Session, cids: set[str]) -> None:
    """An identity nobody registered: keep its traffic under an unregistered charger (another ingest may race us)."""
    now = utcnow()
    stmt = _upsert(session)(Charger.__table__).on_conflict_do_nothing(index_elements=["cid"])
    session.connection().execute(stmt, [
        {"cid": cid, "name": cid, "type": "L2", "unregistered": True, "offline": False, "commands_sent": 0, "created_at": now}
        for cid in sorted(cids)
    ])
    log.info("ingest: auto-registered %d unknown charger(s)", len(cids))


def _upsert(session: Session):
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert
    return upsert


class HotSql:
    """The hot path's four statements, written for the driver and run with exec_driver_sql.

    SQLAlchemy's per-row parameter processing cost more than the database's own work at
    thousands of rows a second (see bench/ingest.py), so these statements skip it:
    - SQLite: one executemany of a one-row statement (sqlite3 loops in C);
    - PostgreSQL: the rows are COPYed into a temporary table of the connection (psycopg writes
      COPY rows in C, several times cheaper than any parameter binding), and one statement
      applies them all from there.
    Only this class tells the dialects apart: placeholders, how SQLite stores a datetime (the
    same text SQLAlchemy writes) and the two expressions the heartbeat gap needs.
    """

    _instances: dict[str, "HotSql"] = {}

    @classmethod
    def of(cls, dialect) -> "HotSql":
        """One per dialect: statements are built once per process."""
        if dialect.name not in cls._instances:
            cls._instances[dialect.name] = cls(dialect)
        return cls._instances[dialect.name]

    SYNTHETIC = {"seen": "TIMESTAMP", "beat": "TIMESTAMP", "prev": "TIMESTAMP"}  # not columns of charger

    def __init__(self, dialect):
        self.dialect = dialect
        self.pg = dialect.name == "postgresql"
        self._cache: dict[Any, str] = {}
        self._staging: dict[Any, str] = {}

    def time(self, value: Optional[datetime]):
        if value is None or self.pg:
            return value
        return value.isoformat(" ", "microseconds")  # SQLAlchemy's SQLite DATETIME text

    def run(self, conn, key, build, names: tuple[str, ...], rows: list[dict]):
        """Run the statement `build(ref, source)` makes for these rows (built once per key)."""
        if key not in self._cache:
            self._staging[key] = f"ingest_staging_{len(self._staging)}"
            self._cache[key] = build(self._ref, self._source(key, names))
        if self.pg:
            self._stage(conn, key, names, rows)
            return conn.exec_driver_sql(self._cache[key])
        return conn.exec_driver_sql(self._cache[key], rows)

    def _ref(self, name: str) -> str:
        return f"v.{name}" if self.pg else f":{name}"

    def _source(self, key, names: tuple[str, ...]) -> str:
        """Where the values come from: PostgreSQL's staging table, or SQLite's one-row VALUES."""
        if not self.pg:
            return f"(VALUES ({', '.join(':' + n for n in names)}))"
        return f"{self._staging[key]} AS v"

    def _stage(self, conn, key, names: tuple[str, ...], rows: list[dict]) -> None:
        """COPY the rows into this connection's staging table for the statement (emptied at commit).

        CREATE .. IF NOT EXISTS in every transaction that stages: a batch that fails takes the
        table it created with it when it rolls back.
        """
        staging, table = self._staging[key], key[1]
        if ("create", key) not in self._cache:
            types = [self.SYNTHETIC.get(n) or table.c[n].type.compile(dialect=self.dialect) for n in names]
            columns = ", ".join(f"{n} {t}" for n, t in zip(names, types))
            self._cache[("create", key)] = (
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} ({columns}) ON COMMIT DELETE ROWS")
        with conn.connection.driver_connection.cursor() as cursor:
            cursor.execute(self._cache[("create", key)])
            with cursor.copy(f"COPY {staging} ({', '.join(names)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(tuple(row[n] for n in names))

    def greatest(self, a: str, b: str) -> str:
        return f"GREATEST({a}, {b})" if self.pg else f"max(coalesce({a}, {b}), coalesce({b}, {a}))"

    def seconds(self, later: str, earlier: str) -> str:
        if self.pg:
            return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"
        return f"round((julianday({later}) - julianday({earlier})) * 86400.0, 3)"  # julianday is a double: ms

    def insert(self, conn, table, names: tuple[str, ...], rows: list[dict], tail: str = ""):
        """INSERT INTO table (names) <rows> [tail: ON CONFLICT .. / RETURNING ..]."""
        def build(ref, source):
            values = f"SELECT {', '.join(ref(n) for n in names)} FROM {source}" if self.pg else source[1:-1]
            return f"INSERT INTO {table.name} ({', '.join(names)}) {values} {tail}"
        return self.run(conn, ("insert", table, names, tail), build, names, rows)

    def claim(self, conn, table, names: tuple[str, ...], rows: list[dict]) -> dict[tuple[int, str], int]:
        """Insert the rows unless their (charger_id, dedup_key) is there already: {(charger, key): new id}."""
        tail = "ON CONFLICT (charger_id, dedup_key) DO NOTHING RETURNING id, charger_id, dedup_key"
        if self.pg:
            return {(charger_id, key): id_ for id_, charger_id, key in self.insert(conn, table, names, rows, tail)}
        fresh = {}  # sqlite3's executemany cannot return rows: a multi-row VALUES per chunk instead
        for chunk in _chunks(rows):
            key = ("claim", table, names, len(chunk))
            if key not in self._cache:
                values = ", ".join(["(" + ", ".join("?" * len(names)) + ")"] * len(chunk))
                self._cache[key] = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES {values} {tail}"
            params = tuple(row[n] for row in chunk for n in names)
            fresh.update({(charger_id, k): id_ for id_, charger_id, k in conn.exec_driver_sql(self._cache[key], params)})
        return fresh

    def update_chargers(self, conn, table, heartbeat: bool, columns: tuple[str, ...], rows: list[dict]) -> None:
        """Always last_seen/offline_after/offline; the heartbeat gap measured against the stored row; plain columns."""
        names = ("id", "seen", "offline_after") + (("beat", "prev") if heartbeat else ()) + columns

        def build(ref, source):
            sets = [f"last_seen = {ref('seen')}", f"offline_after = {ref('offline_after')}", "offline = false"]
            if heartbeat:
                stored = f"{table.name}.last_heartbeat_at"
                newer = f"({stored} IS NULL OR {stored} < {ref('beat')})"
                gap = self.seconds(ref("beat"), self.greatest(stored, ref("prev")))
                sets.append(f"last_heartbeat_gap = CASE WHEN {newer} THEN {gap} ELSE {table.name}.last_heartbeat_gap END")
                sets.append(f"last_heartbeat_at = CASE WHEN {newer} THEN {ref('beat')} ELSE {stored} END")
            sets += [f"{c} = {ref(c)}" for c in columns]
            if self.pg:
                return f"UPDATE {table.name} SET {', '.join(sets)} FROM {source} WHERE {table.name}.id = v.id"
            return f"UPDATE {table.name} SET {', '.join(sets)} WHERE id = :id"
        self.run(conn, ("chargers", table, heartbeat, columns), build, names, rows)


@dataclass
class Incoming:
    topic: str
    payload: bytes
    mid: int = 0
    qos: int = 0
    received_at: datetime = field(default_factory=utcnow)
    generation: int = 0  # which connection it came on: acks only make sense on that one


@dataclass
class Outcome:
    events: list[tuple[str, int, str]] = field(default_factory=list)  # (task name, charger id, detail)
    publish: list[str] = field(default_factory=list)  # command ids to publish after the commit
    applied: int = 0
    duplicates: int = 0
    malformed: int = 0
    flagged: int = 0


def parse_ts(value: Any) -> Optional[datetime]:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed


def _int(value: Any) -> Optional[int]:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _float(value: Any) -> Optional[float]:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _chunks(values: list, size: int = CHUNK):
    for i in range(0, len(values), size):
        yield values[i:i + size]


def parse_topic(prefix: str, topic: str) -> Optional[tuple[str, str, str]]:
    """(cid, kind, name): kind ocpp (name = Action), telemetry, result (name = command_id)."""
    head = f"{prefix}/chargers/"
    if not topic.startswith(head):
        return None
    parts = topic[len(head):].split("/")
    if not chargers.valid_cid(parts[0]):
        return None
    if len(parts) == 3 and parts[1] == "ocpp":
        return parts[0], "ocpp", parts[2]
    if len(parts) == 2 and parts[1] == "telemetry":
        return parts[0], "telemetry", ""
    if len(parts) == 4 and parts[1] == "cmd" and parts[3] == "result":
        return parts[0], "result", parts[2]
    return None


class Record:
    """One parsed message on its way to the database."""

    __slots__ = ("cid", "kind", "name", "body", "payload", "msg_id", "ts", "at", "raw", "flags", "charger", "stored")

    def __init__(self, cid, kind, name, raw, at):
        self.cid, self.kind, self.name, self.raw, self.at = cid, kind, name, raw, at
        self.body: dict = {}
        self.payload: dict = {}
        self.msg_id: Optional[str] = None
        self.ts: Optional[datetime] = None
        self.flags: list[str] = []
        self.charger: Optional[ChargerUpdate] = None
        self.stored: Optional[tuple[int, int]] = None  # (stream row id, flags it was stored with)

    @property
    def when(self) -> datetime:
        return self.ts or self.at


def _parse(prefix: str, item: Incoming, outcome: Outcome) -> Optional[Record]:
    where = parse_topic(prefix, item.topic)
    if where is None:
        outcome.malformed += 1
        log.warning("ingest: ignored message on unexpected topic %s", item.topic)
        return None
    raw = item.payload.decode("utf-8", errors="replace")[:20000]
    record = Record(*where, raw=raw, at=item.received_at)
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        record.kind = "malformed"
        record.flags.append("not a JSON object")
        return record
    record.body = body
    record.ts = parse_ts(body.get("ts"))
    if "ts" in body and record.ts is None:
        record.flags.append("bad ts")
    if record.ts and record.ts > record.at:
        record.ts = record.at  # a charger clock ahead of ours must not make it look alive longer
    msg_id = body.get("msg_id")
    if msg_id is not None:
        record.msg_id = str(msg_id)[:80]
    payload = body.get("payload", {})
    if record.kind in ("ocpp", "result"):
        if not isinstance(payload, dict):
            record.flags.append("payload is not an object")
            payload = {}
        record.payload = payload
    if record.kind == "ocpp":
        if record.name not in OCPP_ACTIONS:
            record.flags.append(f"unknown action {record.name}")
        if record.msg_id is None:
            record.flags.append("no msg_id")
    return record


def process_batch(session: Session, items: list[Incoming], prefix: str,
                  directory: Optional[ChargerDirectory] = None) -> Outcome:
    """Apply a batch to the database (no commit: the caller commits once)."""
    outcome = Outcome()
    records = [r for r in (_parse(prefix, item, outcome) for item in items) if r is not None]
    if not records:
        return outcome

    sql = HotSql.of(session.get_bind().dialect)
    chargers = (directory or ChargerDirectory()).resolve(session, {r.cid for r in records})
    for r in records:
        r.charger = chargers[r.cid]
    records = _claim_new(session.connection(), sql, records, outcome)
    if not records:
        return outcome
    # connectors and faults only for chargers that reported a status in this batch; sessions likewise
    status_ids = sorted({r.charger.id for r in records if r.kind == "ocpp" and r.name == "StatusNotification"})
    session_ids = sorted({r.charger.id for r in records if r.kind == "ocpp" and r.name in TRANSACTION_ACTIONS})

    ctable = Connector.__table__
    connectors = {
        (c.charger_id, c.connector_id): State(**c._mapping)
        for chunk in _chunks(status_ids)
        for c in session.connection().execute(select(ctable).where(ctable.c.charger_id.in_(chunk)))
    }
    faulted_before = _faulted(connectors.values())
    open_faults: dict[tuple[int, int], list[ChargerFault]] = {}
    for chunk in _chunks(status_ids):
        for f in session.scalars(select(ChargerFault).where(ChargerFault.charger_id.in_(chunk), ChargerFault.cleared_at.is_(None))):
            open_faults.setdefault((f.charger_id, f.connector_id), []).append(f)
    sessions = _sessions_for(session, session_ids, records)
    commands = _commands_for(session, records)
    released: set[int] = set()

    for r in records:
        charger = r.charger
        if charger.seen is None or r.at > charger.seen:
            charger.seen = r.at
        if r.kind == "ocpp":
            _apply_ocpp(session, r, connectors, open_faults, sessions)
        elif r.kind == "telemetry":
            _apply_telemetry(r)
        elif r.kind == "result":
            command = commands.get(r.name)
            if command is None or command.charger_id != charger.id:
                r.flags.append("result for an unknown command")
            else:
                was_open = command.status in chargers_commands.IN_FLIGHT
                chargers_commands.record_result(session, command, str(r.body.get("status") or "Unknown"), r.payload, r.at)
                if was_open:
                    released.add(charger.id)
        outcome.applied += 1

    # firmware campaigns keep every FirmwareStatusNotification in their own history and move on it
    firmware_notes = [(r.charger.id, r.payload.get("status"), r.when)
                      for r in records if r.kind == "ocpp" and r.name == "FirmwareStatusNotification"]
    if firmware_notes:
        outcome.events += firmware.record_firmware_statuses(session, firmware_notes)

    conn = session.connection()
    _store_rest(conn, sql, records, outcome)
    _write_chargers(conn, sql, {r.charger.id: r.charger for r in records}.values())
    _write_connectors(conn, sql, connectors.values())
    session.flush()

    faulted_after = _faulted(connectors.values())
    for charger_id in faulted_after.keys() - faulted_before.keys():
        outcome.events.append(("chargers.charger_faulted", charger_id, faulted_after[charger_id]))
    for charger_id in faulted_before.keys() - faulted_after.keys():
        outcome.events.append(("chargers.fault_cleared", charger_id, ""))
    for charger_id in released:
        next_id = chargers_commands.release_after(session, charger_id)
        if next_id:
            outcome.publish.append(next_id)
    # force charges follow their charger's session traffic and command results (field_force_charge)
    watched = {r.charger.id for r in records if r.kind == "result" or (r.kind == "ocpp" and r.name in TRANSACTION_ACTIONS)}
    if watched:
        from app.services.field_force_charge import force_charge_events

        outcome.events.extend(force_charge_events(session, watched))
    return outcome


STREAM_COLUMNS = ("charger_id", "direction", "action", "msg_id", "dedup_key", "payload", "flag", "received_at")
ACTION_OF_KIND = {"telemetry": "Telemetry", "result": "CommandResult"}


def _stream_row(sql: HotSql, r: Record, dedup: bool) -> dict:
    return {
        "charger_id": r.charger.id, "direction": "in",
        "action": r.name[:60] if r.kind == "ocpp" else ACTION_OF_KIND.get(r.kind, "Malformed"),
        "msg_id": r.msg_id if r.kind != "result" else r.name, "dedup_key": r.msg_id if dedup else None,
        "payload": r.raw, "flag": "; ".join(r.flags)[:200] or None, "received_at": sql.time(r.at),
    }


def _claim_new(conn, sql: HotSql, records: list[Record], outcome: Outcome) -> list[Record]:
    """Incoming OCPP messages enter the raw stream first, keyed by (charger, msg_id) with
    ON CONFLICT DO NOTHING RETURNING: what comes back is new, the rest are redelivered duplicates."""
    keyed: dict[tuple[int, str], Record] = {}
    dropped = set()
    for r in records:
        if r.msg_id is not None and r.kind == "ocpp":
            key = (r.charger.id, r.msg_id)
            if key in keyed:  # the same message twice in one batch
                dropped.add(id(r))
                continue
            keyed[key] = r
    if keyed:
        fresh = sql.claim(conn, ChargerMessage.__table__, STREAM_COLUMNS,
                          [_stream_row(sql, r, dedup=True) for r in keyed.values()])
        for key, r in keyed.items():
            if key in fresh:
                r.stored = (fresh[key], len(r.flags))
            else:
                dropped.add(id(r))
    outcome.duplicates += len(dropped)
    return [r for r in records if id(r) not in dropped]


def _store_rest(conn, sql: HotSql, records: list[Record], outcome: Outcome) -> None:
    """After applying: the messages not stored by the claim, and flags the claimed ones picked up since."""
    rows, reflagged = [], []
    for r in records:
        if r.flags:
            outcome.flagged += 1
        if r.kind == "malformed":
            outcome.malformed += 1
        if r.stored is None:
            rows.append(_stream_row(sql, r, dedup=False))
        elif len(r.flags) > r.stored[1]:
            reflagged.append({"_id": r.stored[0], "flag": "; ".join(r.flags)[:200]})
    if rows:
        sql.insert(conn, ChargerMessage.__table__, STREAM_COLUMNS, rows)
    if reflagged:  # rare: a problem only the database could show (an unknown transaction, say)
        table = ChargerMessage.__table__
        conn.execute(update(table).where(table.c.id == bindparam("_id")).values(flag=bindparam("flag")), reflagged)


def _write_chargers(conn, sql: HotSql, chargers) -> None:
    """Every charger of the batch updated without being read, one statement per shape (usually two shapes)."""
    groups: dict[tuple[bool, tuple[str, ...]], list[dict]] = {}
    thresholds: dict[Optional[int], Any] = {}
    for c in chargers:
        beat, prev = c.heartbeat_columns()
        if c.heartbeat_interval not in thresholds:
            thresholds[c.heartbeat_interval] = chargers.offline_threshold(c.heartbeat_interval)
        params = {"id": c.id, "seen": sql.time(c.seen),
                  "offline_after": sql.time(c.seen + thresholds[c.heartbeat_interval])}
        if beat is not None:
            params["beat"], params["prev"] = sql.time(beat), sql.time(prev)
        columns = tuple(sorted(c.values))
        for name in columns:
            value = c.values[name]
            params[name] = sql.time(value) if isinstance(value, datetime) else value
        groups.setdefault((beat is not None, columns), []).append(params)
    for (heartbeat, columns), rows in groups.items():
        sql.update_chargers(conn, Charger.__table__, heartbeat, columns, rows)


CONNECTOR_COLUMNS = ("charger_id", "connector_id") + CONNECTOR_STATE
# a stored status newer than ours (another ingest process's) is kept
CONNECTOR_UPSERT = (
    "ON CONFLICT (charger_id, connector_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in CONNECTOR_STATE)
    + f" WHERE {Connector.__tablename__}.updated_at IS NULL OR {Connector.__tablename__}.updated_at <= excluded.updated_at"
)


def _write_connectors(conn, sql: HotSql, connectors) -> None:
    rows = [{"charger_id": c.charger_id, "connector_id": c.connector_id,
             **{n: getattr(c, n) for n in CONNECTOR_STATE}, "updated_at": sql.time(c.updated_at)}
            for c in connectors if getattr(c, "dirty", False)]
    if rows:
        sql.insert(conn, Connector.__table__, CONNECTOR_COLUMNS, rows, CONNECTOR_UPSERT)


def _faulted(connectors) -> dict[int, str]:
    out: dict[int, str] = {}
    for c in connectors:
        if chargers.is_fault(c.status, c.error_code):
            out.setdefault(c.charger_id, f"connector {c.connector_id}: {c.status} {c.error_code or ''}".strip())
    return out


def _sessions_for(session: Session, ids: list[int], records: list[Record]) -> dict:
    txs = {
        tx for r in records if r.kind == "ocpp" and r.name in ("StartTransaction", "StopTransaction", "MeterValues")
        for tx in [_int(r.payload.get("transactionId"))] if tx is not None
    }
    found = {}
    for chunk in _chunks(ids):
        cond = ChargingSession.status == "Active"
        if txs:
            cond = or_(cond, ChargingSession.transaction_id.in_(txs))
        for s in session.scalars(select(ChargingSession).where(ChargingSession.charger_id.in_(chunk), cond)):
            found[(s.charger_id, s.transaction_id)] = s
    return found


def _commands_for(session: Session, records: list[Record]) -> dict[str, ChargerCommand]:
    wanted = sorted({r.name for r in records if r.kind == "result"})
    return {
        c.command_id: c for chunk in _chunks(wanted)
        for c in session.scalars(select(ChargerCommand).where(ChargerCommand.command_id.in_(chunk)))
    }


def _apply_telemetry(r: Record) -> None:
    if "rssi_dbm" in r.body:
        rssi = _float(r.body["rssi_dbm"])
        if rssi is None:
            r.flags.append("rssi_dbm is not a number")
        else:
            r.charger.values["last_rssi"] = int(round(rssi))
    if "temperature_c" in r.body:
        temp = _float(r.body["temperature_c"])
        if temp is None:
            r.flags.append("temperature_c is not a number")
        else:
            r.charger.values["temperature_c"] = temp


def _apply_ocpp(session, r: Record, connectors, open_faults, sessions) -> None:
    charger, p, action = r.charger, r.payload, r.name
    if action == "Heartbeat":
        charger.beats.append(r.when)
    elif action == "BootNotification":
        for attr, key, size in (
            ("vendor", "chargePointVendor", 40), ("model", "chargePointModel", 40),
            ("firmware_version", "firmwareVersion", 60),
        ):
            if isinstance(p.get(key), str):
                charger.values[attr] = p[key][:size]
        serial = p.get("chargePointSerialNumber") or p.get("chargeBoxSerialNumber")
        if isinstance(serial, str):
            charger.values["serial"] = serial[:40]
        charger.values["booted_at"] = charger.boot_at = r.when
        charger.beats.clear()  # the heartbeat clock starts again at the boot
    elif action == "StatusNotification":
        _apply_status(session, r, connectors, open_faults)
    elif action == "StartTransaction":
        connector_id = _int(p.get("connectorId"))
        tx = _int(p.get("transactionId"))
        if tx is None:
            tx = zlib.crc32((r.msg_id or r.raw).encode()) & 0x7FFFFFFF
            r.flags.append("no transactionId: derived from msg_id")
        if connector_id is None:
            r.flags.append("StartTransaction without connectorId")
            connector_id = 1
        if (charger.id, tx) in sessions:
            return
        meter = _int(p.get("meterStart"))
        started = parse_ts(p.get("timestamp")) or r.when
        s = ChargingSession(
            charger_id=charger.id, transaction_id=tx, connector_id=connector_id,
            id_tag=str(p.get("idTag") or "")[:20] or None, meter_start=meter, meter_last=meter,
            energy_kwh=0.0, status="Active", started_at=started, updated_at=r.at,
        )
        session.add(s)
        sessions[(charger.id, tx)] = s
    elif action == "StopTransaction":
        tx = _int(p.get("transactionId"))
        s = sessions.get((charger.id, tx))
        if s is None:
            r.flags.append("StopTransaction for an unknown transaction")
            return
        meter = _int(p.get("meterStop"))
        if meter is not None:
            s.meter_stop = s.meter_last = meter
            if s.meter_start is not None:
                s.energy_kwh = max(0, meter - s.meter_start) / 1000.0
        s.stopped_at = parse_ts(p.get("timestamp")) or r.when
        s.stop_reason = str(p.get("reason") or "Local")[:30]
        s.status, s.power_kw, s.updated_at = "Completed", 0.0, r.at
    elif action == "MeterValues":
        _apply_meter_values(r, sessions)
    elif action == "FirmwareStatusNotification":
        charger.values["firmware_status"] = str(p.get("status") or "")[:40] or None
        charger.values["firmware_status_at"] = r.when
    elif action == "DiagnosticsStatusNotification":
        charger.values["diagnostics_status"] = str(p.get("status") or "")[:40] or None
        charger.values["diagnostics_status_at"] = r.when


def _apply_status(session, r: Record, connectors, open_faults) -> None:
    charger, p = r.charger, r.payload
    connector_id = _int(p.get("connectorId"))
    if connector_id is None or connector_id < 0:
        r.flags.append("StatusNotification without a valid connectorId")
        return
    status = p.get("status") if isinstance(p.get("status"), str) else None
    error_code = p.get("errorCode") if isinstance(p.get("errorCode"), str) else None
    if status not in CONNECTOR_STATUSES:
        r.flags.append(f"unknown status {status!r}")
    if error_code not in ERROR_CODES:
        r.flags.append(f"unknown errorCode {error_code!r}")
    key = (charger.id, connector_id)
    connector = connectors.get(key)
    if connector is None:
        connector = State(id=None, charger_id=charger.id, connector_id=connector_id,
                          **{n: None for n in CONNECTOR_STATE})
        connectors[key] = connector
    elif connector.updated_at and r.when < connector.updated_at:
        return  # an older status delivered late does not overwrite a newer one
    connector.dirty = True
    connector.status = (status or "")[:30] or None
    connector.error_code = (error_code or "")[:60] or None
    connector.vendor_error_code = str(p.get("vendorErrorCode"))[:60] if p.get("vendorErrorCode") else None
    connector.info = str(p.get("info"))[:100] if p.get("info") else None
    connector.updated_at = r.when
    faults = open_faults.setdefault(key, [])
    if chargers.is_fault(status, error_code):
        code = error_code if error_code and error_code != "NoError" else "Faulted"
        current = next((f for f in faults if f.error_code == code[:60]), None)
        if current is None:
            current = ChargerFault(
                charger_id=charger.id, connector_id=connector_id, error_code=code[:60],
                vendor_error_code=connector.vendor_error_code, info=connector.info,
                nonstandard=code not in ERROR_CODES and code != "Faulted", occurrences=1,
                first_seen=r.when, last_seen=r.when,
            )
            session.add(current)
            faults.append(current)
        else:
            current.occurrences = (current.occurrences or 0) + 1
            current.last_seen = r.when
    else:
        for f in faults:
            f.cleared_at = r.when
        faults.clear()


def _apply_meter_values(r: Record, sessions) -> None:
    charger, p = r.charger, r.payload
    tx = _int(p.get("transactionId"))
    connector_id = _int(p.get("connectorId"))
    s = sessions.get((charger.id, tx)) if tx is not None else None
    if s is None:
        s = next(
            (x for (cid, _), x in sessions.items() if cid == charger.id and x.status == "Active" and x.connector_id == connector_id),
            None,
        )
    values = p.get("meterValue")
    if not isinstance(values, list):
        r.flags.append("meterValue is not a list")
        return
    if s is None:
        if tx is not None:
            r.flags.append("MeterValues for an unknown transaction")
        return
    for mv in values:
        samples = mv.get("sampledValue") if isinstance(mv, dict) else None
        if not isinstance(samples, list):
            r.flags.append("sampledValue is not a list")
            continue
        for sv in samples:
            if not isinstance(sv, dict):
                continue
            measurand = sv.get("measurand") or "Energy.Active.Import.Register"
            value = _float(sv.get("value"))
            unit = sv.get("unit")
            if value is None:
                r.flags.append(f"{measurand} value is not a number")
                continue
            if measurand == "Energy.Active.Import.Register":
                wh = int(round(value * 1000)) if unit == "kWh" else int(round(value))
                s.meter_last = wh
                if s.meter_start is None:
                    s.meter_start = wh
                s.energy_kwh = max(0, wh - s.meter_start) / 1000.0
            elif measurand == "Power.Active.Import":
                s.power_kw = value if unit == "kW" else value / 1000.0
    s.updated_at = r.at


# --- the long-running subscriber -------------------------------------------------------------

def subscriptions(prefix: str, shared: bool = True) -> list[str]:
    """The contract's shared subscriptions (group "ingest"); plain ones when INGEST_SHARED_SUBSCRIPTION is off.

    Mosquitto 2.0 does not restore shared subscriptions of a persistent session after a broker
    restart (it does keep queueing them while only the ingest is away): a single ingest on
    Mosquitto that must not lose what is published between the broker's restart and its own
    reconnect can run with plain subscriptions instead.
    """
    group = "$share/ingest/" if shared else ""
    return [
        f"{group}{prefix}/chargers/+/ocpp/#",
        f"{group}{prefix}/chargers/+/telemetry",
        f"{group}{prefix}/chargers/+/cmd/+/result",
    ]


class BatchWriter:
    """Applies batches: one transaction each, a poison message isolated, side effects after the commit."""

    def __init__(self, app, prefix: str, dispatch_events: bool = True):
        self.app, self.prefix, self.dispatch_events = app, prefix, dispatch_events
        self.directory = ChargerDirectory()

    def write(self, session: Session, batch: list[Incoming]) -> dict[str, float]:
        """Returns what happened, as counters for Ingestor.stats."""
        counts: dict[str, float] = {}
        try:
            outcomes = [self._apply(session, batch, counts)]
        except Exception:
            session.rollback()
            self.directory.clear()  # a charger deleted meanwhile must not fail the retries too
            log.exception("ingest: batch of %d failed; retrying one by one", len(batch))
            outcomes = []
            for item in batch:  # isolate the poison message; the rest still lands
                try:
                    outcomes.append(self._apply(session, [item], counts))
                except Exception:
                    session.rollback()
                    counts["errors"] = counts.get("errors", 0) + 1
                    log.exception("ingest: dropped a message on %s", item.topic)
        for outcome in outcomes:
            self._after_commit(outcome)
        return counts

    def _apply(self, session: Session, batch: list[Incoming], counts: dict[str, float]) -> Outcome:
        started, cpu = time.perf_counter(), time.thread_time()
        outcome = process_batch(session, batch, self.prefix, self.directory)
        if self.dispatch_events:  # in the batch's own transaction: an alert is never lost to a Redis outage
            for task_name, charger_id, detail in outcome.events:
                enqueue_after_commit(session, task_name, charger_id, detail)
        session.commit()
        counts["write_s"] = counts.get("write_s", 0.0) + time.perf_counter() - started
        counts["write_cpu_s"] = counts.get("write_cpu_s", 0.0) + time.thread_time() - cpu
        counts["batches"] = counts.get("batches", 0) + 1
        for key in ("applied", "duplicates", "malformed", "flagged"):
            counts[key] = counts.get(key, 0) + getattr(outcome, key)
        return outcome

    def _after_commit(self, outcome: Outcome) -> None:
        for command_id in outcome.publish:
            try:
                chargers_commands.publish_command(command_id)
            except Exception:
                log.exception("ingest: could not publish queued command %s", command_id)


def _portable_config(app) -> dict[str, Any]:
    """The app's settings that can cross to the writer process (modules and functions cannot)."""
    import pickle

    out = {}
    for key, value in app.config.items():
        try:
            pickle.dumps(value)
        except Exception:
            continue
        out[key] = value
    return out


def _writer_process_main(config: dict[str, Any], pipe, prefix: str, dispatch_events: bool) -> None:
    """The writer process: receives batches over the pipe, answers each with its counters once committed."""
    from app import create_app
    from app.extensions import db

    app = create_app(config)
    writer = BatchWriter(app, prefix, dispatch_events)
    gc.freeze()  # the app's own objects never die: keep them out of every collection (about 20% of a batch)
    with app.app_context():
        pipe.send(("ready", None))
        while True:
            message = pipe.recv()
            if message is None:
                break
            number, rows = message
            counts = writer.write(db.session, [Incoming(topic, payload, received_at=at) for topic, payload, at in rows])
            db.session.remove()
            pipe.send((number, counts))
    pipe.send(None)


_FORKSERVER = None


def _process_context():
    """forkserver: writer processes fork from a clean server that has the app's modules imported already
    (fast start, and nothing inherited from a parent's threads)."""
    global _FORKSERVER
    if _FORKSERVER is None:
        import multiprocessing

        _FORKSERVER = multiprocessing.get_context("forkserver")
        _FORKSERVER.set_forkserver_preload(["app", "app.services.chargers_ingest"])
    return _FORKSERVER


class Ingestor:
    """`flask ingest`: subscribe, batch, write, ack, hand events to Celery. start()/stop() for tests and bench.

    Receiving and writing run in separate processes by default (INGEST_WRITER_PROCESS): paho's
    packet handling in Python costs about as much as the database work, and in one process both
    share one interpreter lock. This process keeps the MQTT session: it receives, ships batches
    to the writer over a pipe and acknowledges each message only when the writer reports its
    batch committed. With the writer in a thread instead, the flow is the same in one process.
    """

    def __init__(self, app, client_id: Optional[str] = None, url: Optional[str] = None, prefix: Optional[str] = None,
                 batch_size: Optional[int] = None, batch_ms: Optional[int] = None,
                 session_expiry: Optional[int] = None, dispatch_events: bool = True, shared: Optional[bool] = None,
                 writer_process: Optional[bool] = None):
        cfg = app.config
        self.app = app
        self.client_id = client_id or cfg["INGEST_CLIENT_ID"]
        self.url = url or cfg["MQTT_URL"]
        self.prefix = prefix or cfg["MQTT_TOPIC_PREFIX"]
        self.batch_size = batch_size or cfg["INGEST_BATCH_SIZE"]
        self.batch_wait = (batch_ms if batch_ms is not None else cfg["INGEST_BATCH_MS"]) / 1000.0
        self.session_expiry = session_expiry if session_expiry is not None else cfg["INGEST_SESSION_EXPIRY"]
        self.dispatch_events = dispatch_events
        self.shared = cfg["INGEST_SHARED_SUBSCRIPTION"] if shared is None else shared
        self.writer_process = cfg["INGEST_WRITER_PROCESS"] if writer_process is None else writer_process
        self.queue: queue.Queue[Incoming] = queue.Queue()
        self.stats = {"received": 0, "applied": 0, "duplicates": 0, "malformed": 0, "flagged": 0,
                      "batches": 0, "errors": 0, "connects": 0, "write_s": 0.0, "write_cpu_s": 0.0}
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self._stop = threading.Event()
        self._generation = 0
        self._threads: list[threading.Thread] = []
        self._process = None
        self._pipe = None
        self._pending: dict[int, list[Incoming]] = {}  # shipped to the writer process, not yet committed
        self._shipped = 0
        self.client: Optional[mqtt.Client] = None

    # paho callbacks (network thread): keep them tiny
    def _on_connect(self, client, userdata, flags, reason, properties):
        if reason.is_failure:
            log.warning("ingest: connect refused: %s", reason)
            return
        self._generation += 1
        self.stats["connects"] += 1
        log.info("ingest: connected (session present: %s)", flags.session_present)
        client.subscribe([(topic, mqtt.SubscribeOptions(qos=1)) for topic in subscriptions(self.prefix, self.shared)])
        self.connected.set()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        self.subscribed.set()

    def _on_disconnect(self, client, userdata, flags, reason, properties):
        self.connected.clear()
        self.subscribed.clear()
        if not self._stop.is_set():
            log.warning("ingest: disconnected (%s); paho reconnects", reason)

    def _on_message(self, client, userdata, message):
        self.stats["received"] += 1
        self.queue.put(Incoming(message.topic, message.payload, message.mid, message.qos, utcnow(), self._generation))

    def start(self, wait: float = 10.0) -> "Ingestor":
        from app.integrations.mqtt import make_client

        self.start_writer()
        self.client, address = make_client(self.url, self.client_id, manual_ack=True)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(min_delay=1, max_delay=5)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry
        props.ReceiveMaximum = min(65535, self.app.config["INGEST_RECEIVE_MAXIMUM"])
        self.client.connect_async(address.host, address.port, keepalive=30, clean_start=False, properties=props)
        self.client.loop_start()
        if wait:
            self.subscribed.wait(wait)
        return self

    def start_writer(self) -> None:
        """The writing side, ready before anything is received (start() calls it; a bench may call it first)."""
        if self._threads:
            return
        if self.writer_process:
            self._start_writer_process()
            self._spawn(self._ship_loop, "ingest-shipper")
            self._spawn(self._commit_loop, "ingest-acks")
        else:
            self._spawn(self._write_loop, "ingest-writer")

    def _spawn(self, target, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _start_writer_process(self) -> None:
        ctx = _process_context()
        self._pipe, child = ctx.Pipe()
        self._process = ctx.Process(
            target=_writer_process_main, name="ingest-writer", daemon=True,
            args=(_portable_config(self.app), child, self.prefix, self.dispatch_events),
        )
        self._process.start()
        child.close()
        if not self._pipe.poll(120) or self._pipe.recv() != ("ready", None):
            raise RuntimeError("ingest: the writer process did not start")

    def writer_alive(self) -> bool:
        return self._process.is_alive() if self._process else any(t.is_alive() for t in self._threads)

    def stop(self, discard_session: bool = False, drain: float = 10.0) -> None:
        deadline = time.monotonic() + drain
        while (not self.queue.empty() or self._pending) and self.writer_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        self._stop.set()
        for thread in self._threads:
            if thread.name != "ingest-acks":
                thread.join(drain)
        if self._process:
            try:
                self._pipe.send(None)  # the writer answers None last: the ack thread ends on it
            except OSError:
                pass
            self._process.join(drain)
            if self._process.is_alive():
                self._process.terminate()
        for thread in self._threads:
            thread.join(drain)
        if self.client:
            props = None
            if discard_session:  # tests: leave no queue behind in the shared group on the shared broker
                props = Properties(PacketTypes.DISCONNECT)
                props.SessionExpiryInterval = 0
            self.client.disconnect(properties=props)
            self.client.loop_stop()

    def _take_batch(self) -> list[Incoming]:
        """Natural batching: whatever is queued (up to batch_size), lingering at most batch_ms for more.

        An idle system writes one message at once (low latency); under load the queue fills
        while the previous batch commits, so batches grow on their own.
        """
        try:
            first = self.queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.batch_wait
        while len(batch) < self.batch_size:
            try:
                batch.append(self.queue.get_nowait())
                continue
            except queue.Empty:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(self.queue.get(timeout=remaining))
            except queue.Empty:
                break
        return batch

    def _write_loop(self) -> None:
        """Writer in a thread of this process (INGEST_WRITER_PROCESS off)."""
        from app.extensions import db

        writer = BatchWriter(self.app, self.prefix, self.dispatch_events)
        with self.app.app_context():
            while not (self._stop.is_set() and self.queue.empty()):
                batch = self._take_batch()
                if not batch:
                    continue
                counts = writer.write(db.session, batch)
                db.session.remove()
                self._acknowledge(batch, counts)

    def _ship_loop(self) -> None:
        """Batches to the writer process. At most two in flight: the next one fills while one commits."""
        while not (self._stop.is_set() and self.queue.empty()):
            while len(self._pending) >= 2 and self.writer_alive():
                time.sleep(0.001)
            batch = self._take_batch()
            if not batch:
                continue
            self._shipped += 1
            self._pending[self._shipped] = batch
            try:
                self._pipe.send((self._shipped, [(i.topic, i.payload, i.received_at) for i in batch]))
            except OSError:
                log.error("ingest: the writer process is gone; unacknowledged messages stay with the broker")
                return

    def _commit_loop(self) -> None:
        """The writer process's answers: acknowledge each batch it committed."""
        while True:
            try:
                message = self._pipe.recv()
            except (EOFError, OSError):
                if not self._stop.is_set():
                    log.error("ingest: the writer process ended unexpectedly")
                return
            if message is None:
                return
            number, counts = message
            self._acknowledge(self._pending.pop(number, []), counts)

    def _acknowledge(self, batch: list[Incoming], counts: dict[str, float]) -> None:
        for item in batch:
            if item.qos > 0 and item.generation == self._generation and self.client is not None:
                self.client.ack(item.mid, item.qos)
        for key, value in counts.items():
            self.stats[key] = self.stats.get(key, 0) + value

    def run_forever(self) -> None:
        self.start(wait=0)
        logged = time.monotonic()
        try:
            while self.writer_alive():
                time.sleep(1)
                if time.monotonic() - logged >= 30:
                    logged = time.monotonic()
                    log.info("ingest: %s", self.stats)
            log.error("ingest: the writer stopped; exiting so the supervisor restarts the ingest")
            raise SystemExit(1)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
