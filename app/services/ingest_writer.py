"""The ingest's writer: a batch of charger messages -> database, one transaction per batch.

The writer applies a batch with one SELECT per table and one write per table (`ingest_sql`),
the OCPP rules in between (`ocpp_rules`), and commits once; a poison message is isolated and the
rest still lands. Events that need side effects (faulted, fault cleared, firmware, force charges)
are queued in the batch's own transaction (the outbox), and so is the publish of a queued
command a result released.

Decisions where the contract is silent:
- An identity nobody registered is auto-registered (`unregistered` = True, type L2, name = cid)
  so its traffic is not lost; the registry screen lists them for someone to complete.
- StartTransaction carries the `transactionId` the gateway answered with (it is the OCPP
  conf's field; the charger side has no reply topic). Without it we derive a stable one
  from the msg_id and flag the message.
- The heartbeat gap is measured on the charger's `ts` (falls back to the receive time) so a
  backlog delivered at once after an outage does not look like a perfect heartbeat.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional

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
from app.services import firmware
from app.services import live
from app.services.chargers import offline_threshold, restamp_conditions, valid_cid
from app.services.chargers_commands import IN_FLIGHT, record_result, release_next_command
from app.services.field_force_charge import force_charge_events
from app.services.ingest_sql import HotSql, _chunks, upsert
from app.services.ocpp_rules import (
    CONNECTOR_STATE, RULES, TRANSACTION_ACTIONS, Call, ChargerState, ChargerUpdate, State, apply, as_float,
    as_int, faulted, parse_ts,
)
from app.services.outbox import enqueue_after_commit

log = logging.getLogger("chargeops.ingest")


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
    applied: int = 0
    duplicates: int = 0
    malformed: int = 0
    flagged: int = 0


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
    stmt = upsert(session)(Charger.__table__).on_conflict_do_nothing(index_elements=["cid"])
    session.connection().execute(stmt, [
        {"cid": cid, "name": cid, "type": "L2", "unregistered": True, "offline": False, "commands_sent": 0, "created_at": now}
        for cid in sorted(cids)
    ])
    log.info("ingest: auto-registered %d unknown charger(s)", len(cids))


def parse_topic(prefix: str, topic: str) -> Optional[tuple[str, str, str]]:
    """(cid, kind, name): kind ocpp (name = Action), telemetry, result (name = command_id)."""
    head = f"{prefix}/chargers/"
    if not topic.startswith(head):
        return None
    parts = topic[len(head):].split("/")
    if not valid_cid(parts[0]):
        return None
    if len(parts) == 3 and parts[1] == "ocpp":
        return parts[0], "ocpp", parts[2]
    if len(parts) == 2 and parts[1] == "telemetry":
        return parts[0], "telemetry", ""
    if len(parts) == 4 and parts[1] == "cmd" and parts[3] == "result":
        return parts[0], "result", parts[2]
    return None


class Record(Call):
    """One parsed message on its way to the database (an OCPP CALL for the rules, or telemetry or a result)."""

    __slots__ = ("cid", "kind", "name", "body", "stored")

    def __init__(self, cid, kind, name, raw, at):
        super().__init__(None, {}, at, raw=raw)
        self.cid, self.kind, self.name = cid, kind, name
        self.body: dict = {}
        self.stored: Optional[tuple[int, int]] = None  # (stream row id, flags it was stored with)


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
        if record.name not in RULES:
            record.flags.append(f"unknown action {record.name}")
        if record.msg_id is None:
            record.flags.append("no msg_id")
    return record


def record_charger_messages(session: Session, items: list[Incoming], prefix: str,
                            directory: Optional[ChargerDirectory] = None) -> Outcome:
    """Apply a batch of charger messages to the database (flushes; the caller commits once)."""
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
    faulted_before = faulted(connectors.values())
    open_faults: dict[tuple[int, int], list[ChargerFault]] = {}
    for chunk in _chunks(status_ids):
        for f in session.scalars(select(ChargerFault).where(ChargerFault.charger_id.in_(chunk), ChargerFault.cleared_at.is_(None))):
            open_faults.setdefault((f.charger_id, f.connector_id), []).append(f)
    state = ChargerState(connectors, open_faults, _sessions_for(session, session_ids, records))
    commands = _commands_for(session, records)
    released: set[int] = set()

    for r in records:
        charger = r.charger
        if charger.seen is None or r.at > charger.seen:
            charger.seen = r.at
        if r.kind == "ocpp":
            apply(r.name, r, state)
        elif r.kind == "telemetry":
            _apply_telemetry(r)
        elif r.kind == "result":
            command = commands.get(r.name)
            if command is None or command.charger_id != charger.id:
                r.flags.append("result for an unknown command")
            else:
                was_open = command.status in IN_FLIGHT
                record_result(session, command, str(r.body.get("status") or "Unknown"), r.payload, r.at)
                if was_open:
                    released.add(charger.id)
        outcome.applied += 1
    session.add_all(state.added)

    # firmware campaigns keep every FirmwareStatusNotification in their own history and move on it
    firmware_notes = [(r.charger.id, r.payload.get("status"), r.when)
                      for r in records if r.kind == "ocpp" and r.name == "FirmwareStatusNotification"]
    if firmware_notes:
        outcome.events += firmware.record_firmware_statuses(session, firmware_notes)

    conn = session.connection()
    _store_rest(conn, sql, records, outcome)
    _write_chargers(conn, sql, {r.charger.id: r.charger for r in records}.values())
    _write_connectors(conn, sql, connectors.values())
    restamp_conditions(conn, [r.charger.id for r in records])  # the network list's stored bucket
    session.flush()

    faulted_after = faulted(connectors.values())
    for charger_id in faulted_after.keys() - faulted_before.keys():
        outcome.events.append(("chargers.charger_faulted", charger_id, faulted_after[charger_id]))
    for charger_id in faulted_before.keys() - faulted_after.keys():
        outcome.events.append(("chargers.fault_cleared", charger_id, ""))
    for charger_id in released:
        release_next_command(session, charger_id)
    # force charges follow their charger's session traffic and command results (field_force_charge)
    watched = {r.charger.id for r in records if r.kind == "result" or (r.kind == "ocpp" and r.name in TRANSACTION_ACTIONS)}
    if watched:
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
            thresholds[c.heartbeat_interval] = offline_threshold(c.heartbeat_interval)
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


def _sessions_for(session: Session, ids: list[int], records: list[Record]) -> dict:
    txs = {
        tx for r in records if r.kind == "ocpp" and r.name in ("StartTransaction", "StopTransaction", "MeterValues")
        for tx in [as_int(r.payload.get("transactionId"))] if tx is not None
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
        rssi = as_float(r.body["rssi_dbm"])
        if rssi is None:
            r.flags.append("rssi_dbm is not a number")
        else:
            r.charger.values["last_rssi"] = int(round(rssi))
    if "temperature_c" in r.body:
        temp = as_float(r.body["temperature_c"])
        if temp is None:
            r.flags.append("temperature_c is not a number")
        else:
            r.charger.values["temperature_c"] = temp


class BatchWriter:
    """Applies batches: one transaction each (the writer commits), a poison message isolated, side effects
    queued in the batch's transaction."""

    def __init__(self, app, prefix: str, dispatch_events: bool = True):
        self.app, self.prefix, self.dispatch_events = app, prefix, dispatch_events
        self.directory = ChargerDirectory()

    def write(self, session: Session, batch: list[Incoming]) -> dict[str, float]:
        """Returns what happened, as counters for Ingestor.stats."""
        counts: dict[str, float] = {}
        try:
            self._apply(session, batch, counts)
        except Exception:
            session.rollback()
            self.directory.clear()  # a charger deleted meanwhile must not fail the retries too
            log.exception("ingest: batch of %d failed; retrying one by one", len(batch))
            for item in batch:  # isolate the poison message; the rest still lands
                try:
                    self._apply(session, [item], counts)
                except Exception:
                    session.rollback()
                    counts["errors"] = counts.get("errors", 0) + 1
                    log.exception("ingest: dropped a message on %s", item.topic)
        live.publish_changes(self.prefix, batch, self.app.config["REDIS_URL"])  # best effort, never blocks
        return counts

    def _apply(self, session: Session, batch: list[Incoming], counts: dict[str, float]) -> Outcome:
        started, cpu = time.perf_counter(), time.thread_time()
        outcome = record_charger_messages(session, batch, self.prefix, self.directory)
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
