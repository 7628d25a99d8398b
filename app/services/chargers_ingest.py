"""The MQTT ingest: charger messages -> database, in batches, one transaction per batch.

paho's network thread only parses and queues (on_message); a writer thread takes up to
INGEST_BATCH_SIZE messages or waits INGEST_BATCH_MS, applies the whole batch with one SELECT
per table and executemany writes, commits once, and only then acknowledges the messages
(manual_ack): a crash before the commit means the broker redelivers them, and the
(charger, msg_id) dedup drops whatever was already applied. Events that need side effects
(faulted, fault cleared) go to Celery after the commit.

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
from sqlalchemy import insert, or_, select
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.chargers import (
    Charger,
    ChargerCommand,
    ChargerFault,
    ChargerMessage,
    ChargingSession,
    Connector,
    ProcessedMessage,
)
from app.services import chargers as svc

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
    """A plain mutable row (charger or connector): the hot path writes them back with one executemany."""

    def __init__(self, **values):
        self.__dict__.update(values)


CHARGER_STATE = (
    "last_seen", "offline_after", "offline", "last_heartbeat_at", "last_heartbeat_gap", "last_rssi", "temperature_c",
    "vendor", "model", "serial", "firmware_version", "booted_at", "firmware_status", "firmware_status_at",
    "diagnostics_status", "diagnostics_status_at",
)
CONNECTOR_STATE = ("status", "error_code", "vendor_error_code", "info", "updated_at")


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
    if not svc.valid_cid(parts[0]):
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

    __slots__ = ("cid", "kind", "name", "body", "payload", "msg_id", "ts", "at", "raw", "flags", "charger")

    def __init__(self, cid, kind, name, raw, at):
        self.cid, self.kind, self.name, self.raw, self.at = cid, kind, name, raw, at
        self.body: dict = {}
        self.payload: dict = {}
        self.msg_id: Optional[str] = None
        self.ts: Optional[datetime] = None
        self.flags: list[str] = []
        self.charger: Optional[State] = None

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


def process_batch(session: Session, items: list[Incoming], prefix: str) -> Outcome:
    """Apply a batch to the database (no commit: the caller commits once)."""
    outcome = Outcome()
    records = [r for r in (_parse(prefix, item, outcome) for item in items) if r is not None]
    if not records:
        return outcome

    chargers = _chargers_for(session, {r.cid for r in records})
    for r in records:
        r.charger = chargers[r.cid]
    records = _drop_duplicates(session, records, outcome)
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
        if charger.last_seen is None or r.at >= charger.last_seen:
            charger.last_seen = r.at
            charger.offline_after = r.at + svc.offline_threshold(charger.heartbeat_interval)
            if charger.offline:
                charger.offline = False
        if r.kind == "ocpp":
            _apply_ocpp(session, r, connectors, open_faults, sessions)
        elif r.kind == "telemetry":
            _apply_telemetry(r)
        elif r.kind == "result":
            command = commands.get(r.name)
            if command is None or command.charger_id != charger.id:
                r.flags.append("result for an unknown command")
            else:
                was_open = command.status in svc.IN_FLIGHT
                svc.record_result(session, command, str(r.body.get("status") or "Unknown"), r.payload, r.at)
                if was_open:
                    released.add(charger.id)
        outcome.applied += 1

    rows = []
    for r in records:
        if r.flags:
            outcome.flagged += 1
        if r.kind == "malformed":
            outcome.malformed += 1
        rows.append({
            "charger_id": r.charger.id, "direction": "in",
            "action": {"ocpp": r.name, "telemetry": "Telemetry", "result": "CommandResult"}.get(r.kind, "Malformed")[:60],
            "msg_id": r.msg_id if r.kind != "result" else r.name, "payload": r.raw,
            "flag": "; ".join(r.flags)[:200] or None, "received_at": r.at,
        })
    conn = session.connection()
    conn.execute(insert(ChargerMessage.__table__), rows)
    _write_state(conn, chargers.values(), connectors.values())
    session.flush()

    faulted_after = _faulted(connectors.values())
    for charger_id in faulted_after.keys() - faulted_before.keys():
        outcome.events.append(("chargers.charger_faulted", charger_id, faulted_after[charger_id]))
    for charger_id in faulted_before.keys() - faulted_after.keys():
        outcome.events.append(("chargers.fault_cleared", charger_id, ""))
    for charger_id in released:
        next_id = svc.release_after(session, charger_id)
        if next_id:
            outcome.publish.append(next_id)
    return outcome


def _chargers_for(session: Session, cids: set[str]) -> dict[str, State]:
    table = Charger.__table__
    cols = [table.c.id, table.c.cid, table.c.heartbeat_interval] + [table.c[name] for name in CHARGER_STATE]

    def load(names):
        return {
            row.cid: State(**row._mapping)
            for chunk in _chunks(sorted(names))
            for row in session.connection().execute(select(*cols).where(table.c.cid.in_(chunk)))
        }

    found = load(cids)
    missing = cids - set(found)
    if missing:
        now = utcnow()
        session.connection().execute(insert(table), [
            {"cid": cid, "name": cid, "type": "L2", "unregistered": True, "offline": False, "commands_sent": 0, "created_at": now}
            for cid in sorted(missing)
        ])
        found.update(load(missing))
        log.info("ingest: auto-registered %d unknown charger(s)", len(missing))
    return found


def _write_state(conn, chargers, connectors) -> None:
    """Current state back in three executemany statements (chargers, connector updates, new connectors)."""
    from sqlalchemy import bindparam, update

    ct = Charger.__table__
    conn.execute(
        update(ct).where(ct.c.id == bindparam("_id")).values({n: bindparam(n) for n in CHARGER_STATE}),
        [{"_id": c.id, **{n: getattr(c, n) for n in CHARGER_STATE}} for c in chargers],
    )
    kt = Connector.__table__
    changed = [c for c in connectors if getattr(c, "dirty", False)]
    updates = [{"_id": c.id, **{n: getattr(c, n) for n in CONNECTOR_STATE}} for c in changed if c.id is not None]
    if updates:
        conn.execute(update(kt).where(kt.c.id == bindparam("_id")).values({n: bindparam(n) for n in CONNECTOR_STATE}), updates)
    inserts = [{"charger_id": c.charger_id, "connector_id": c.connector_id, **{n: getattr(c, n) for n in CONNECTOR_STATE}}
               for c in changed if c.id is None]
    if inserts:
        conn.execute(insert(kt), inserts)


def _drop_duplicates(session: Session, records: list[Record], outcome: Outcome) -> list[Record]:
    """Claim every (charger, msg_id) with INSERT .. ON CONFLICT DO NOTHING RETURNING: what comes back is new."""
    keyed: dict[tuple[int, str], Record] = {}
    kept, dropped = [], set()
    for r in records:
        if r.msg_id is not None and r.kind == "ocpp":
            key = (r.charger.id, r.msg_id)
            if key in keyed:  # the same message twice in one batch
                dropped.add(id(r))
                continue
            keyed[key] = r
    if keyed:
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as upsert
        else:
            from sqlalchemy.dialects.sqlite import insert as upsert
        rows = [{"charger_id": k[0], "msg_id": k[1], "received_at": r.at} for k, r in keyed.items()]
        stmt = upsert(ProcessedMessage.__table__).on_conflict_do_nothing(
            index_elements=["charger_id", "msg_id"]
        ).returning(ProcessedMessage.__table__.c.charger_id, ProcessedMessage.__table__.c.msg_id)
        # Core executemany (insertmanyvalues): one statement compiled once, RETURNING the rows it inserted
        fresh = {tuple(row) for row in session.connection().execute(stmt, rows)}
        dropped.update(id(r) for k, r in keyed.items() if k not in fresh)
    for r in records:
        if id(r) in dropped:
            outcome.duplicates += 1
        else:
            kept.append(r)
    return kept


def _faulted(connectors) -> dict[int, str]:
    out: dict[int, str] = {}
    for c in connectors:
        if c.status == "Faulted" or (c.error_code and c.error_code != "NoError"):
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
            r.charger.last_rssi = int(round(rssi))
    if "temperature_c" in r.body:
        temp = _float(r.body["temperature_c"])
        if temp is None:
            r.flags.append("temperature_c is not a number")
        else:
            r.charger.temperature_c = temp


def _apply_ocpp(session, r: Record, connectors, open_faults, sessions) -> None:
    charger, p, action = r.charger, r.payload, r.name
    if action == "Heartbeat":
        if charger.last_heartbeat_at is not None and r.when > charger.last_heartbeat_at:
            charger.last_heartbeat_gap = (r.when - charger.last_heartbeat_at).total_seconds()
        if charger.last_heartbeat_at is None or r.when > charger.last_heartbeat_at:
            charger.last_heartbeat_at = r.when
    elif action == "BootNotification":
        for attr, key, size in (
            ("vendor", "chargePointVendor", 40), ("model", "chargePointModel", 40),
            ("firmware_version", "firmwareVersion", 60),
        ):
            if isinstance(p.get(key), str):
                setattr(charger, attr, p[key][:size])
        serial = p.get("chargePointSerialNumber") or p.get("chargeBoxSerialNumber")
        if isinstance(serial, str):
            charger.serial = serial[:40]
        charger.booted_at = r.when
        charger.last_heartbeat_at, charger.last_heartbeat_gap = r.when, None  # a reboot is not a late heartbeat
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
        charger.firmware_status = str(p.get("status") or "")[:40] or None
        charger.firmware_status_at = r.when
    elif action == "DiagnosticsStatusNotification":
        charger.diagnostics_status = str(p.get("status") or "")[:40] or None
        charger.diagnostics_status_at = r.when


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
    is_fault = status == "Faulted" or (error_code is not None and error_code != "NoError")
    faults = open_faults.setdefault(key, [])
    if is_fault:
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


class Ingestor:
    """`flask ingest`: subscribe, batch, write, ack, hand events to Celery. start()/stop() for tests and bench."""

    def __init__(self, app, client_id: Optional[str] = None, url: Optional[str] = None, prefix: Optional[str] = None,
                 batch_size: Optional[int] = None, batch_ms: Optional[int] = None,
                 session_expiry: Optional[int] = None, dispatch_events: bool = True, shared: Optional[bool] = None):
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
        self.queue: queue.Queue[Incoming] = queue.Queue()
        self.stats = {"received": 0, "applied": 0, "duplicates": 0, "malformed": 0, "flagged": 0,
                      "batches": 0, "errors": 0, "connects": 0, "write_s": 0.0}
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self._stop = threading.Event()
        self._generation = 0
        self._writer: Optional[threading.Thread] = None
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
        self._writer = threading.Thread(target=self._write_loop, name="ingest-writer", daemon=True)
        self._writer.start()
        self.client.loop_start()
        if wait:
            self.subscribed.wait(wait)
        return self

    def stop(self, discard_session: bool = False, drain: float = 10.0) -> None:
        deadline = time.monotonic() + drain
        while not self.queue.empty() and time.monotonic() < deadline:
            time.sleep(0.02)
        self._stop.set()
        if self._writer:
            self._writer.join(drain)
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
        from app.extensions import db

        with self.app.app_context():
            while not (self._stop.is_set() and self.queue.empty()):
                batch = self._take_batch()
                if not batch:
                    continue
                try:
                    outcomes = [self._write(db.session, batch)]
                except Exception:
                    db.session.rollback()
                    log.exception("ingest: batch of %d failed; retrying one by one", len(batch))
                    outcomes = []
                    for item in batch:  # isolate the poison message; the rest still lands
                        try:
                            outcomes.append(self._write(db.session, [item]))
                        except Exception:
                            db.session.rollback()
                            self.stats["errors"] += 1
                            log.exception("ingest: dropped a message on %s", item.topic)
                for item in batch:
                    self._ack(item)
                for outcome in outcomes:
                    self._after_commit(outcome)
                db.session.remove()

    def _write(self, session, batch: list[Incoming]) -> Outcome:
        started = time.perf_counter()
        outcome = process_batch(session, batch, self.prefix)
        session.commit()
        self.stats["write_s"] += time.perf_counter() - started
        self.stats["batches"] += 1
        for key in ("applied", "duplicates", "malformed", "flagged"):
            self.stats[key] += getattr(outcome, key)
        return outcome

    def _ack(self, item: Incoming) -> None:
        if item.qos > 0 and item.generation == self._generation and self.client is not None:
            self.client.ack(item.mid, item.qos)

    def _after_commit(self, outcome: Outcome) -> None:
        for command_id in outcome.publish:
            try:
                svc.publish_command(command_id)
            except Exception:
                log.exception("ingest: could not publish queued command %s", command_id)
        if not self.dispatch_events:
            return
        for task_name, charger_id, detail in outcome.events:
            try:
                self.app.extensions["celery"].send_task(task_name, args=(charger_id, detail))
            except Exception:
                log.exception("ingest: could not hand %s for charger %s to Celery", task_name, charger_id)

    def run_forever(self) -> None:
        self.start(wait=0)
        try:
            while True:
                time.sleep(30)
                log.info("ingest: %s", self.stats)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
