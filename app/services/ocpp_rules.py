"""What each OCPP 1.6 CALL from a charger changes, one pure function per Action (`RULES`).

A rule reads one message and changes the in-memory state of its charger: the charger's own columns
(`ChargerUpdate`), its connectors, open faults and charging sessions (`ChargerState`). It reads no
database and talks to no broker: the ingest's writer loads the state for a whole batch, applies
the rules in order and writes what changed; the tests call the rules directly.

Unknown values (error codes, statuses, measurands) are kept as sent and flagged on the message;
an unknown error code still counts as a fault (it is "other than NoError").
"""
from __future__ import annotations

import zlib
from datetime import datetime, timezone
from typing import Any, Callable, Optional

from app.models.chargers import ChargerFault, ChargingSession
from app.services.chargers import is_fault

CONNECTOR_STATUSES = {
    "Available", "Preparing", "Charging", "SuspendedEVSE", "SuspendedEV", "Finishing",
    "Reserved", "Unavailable", "Faulted",
}
ERROR_CODES = {
    "ConnectorLockFailure", "EVCommunicationError", "GroundFailure", "HighTemperature", "InternalError",
    "LocalListConflict", "NoError", "OtherError", "OverCurrentFailure", "PowerMeterFailure",
    "PowerSwitchFailure", "ReaderFailure", "ResetFailure", "UnderVoltage", "OverVoltage", "WeakSignal",
}
CONNECTOR_STATE = ("status", "error_code", "vendor_error_code", "info", "updated_at")
TRANSACTION_ACTIONS = ("StartTransaction", "StopTransaction", "MeterValues")


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


def as_int(value: Any) -> Optional[int]:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def as_float(value: Any) -> Optional[float]:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class State:
    """A plain mutable connector row: read per batch, written back in one upsert."""

    def __init__(self, **values):
        self.__dict__.update(values)


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


class ChargerState:
    """What the rules may change, for every charger of a batch, keyed by charger id.

    `connectors` {(charger, connector): State}, `open_faults` {(charger, connector): [ChargerFault]},
    `sessions` {(charger, transaction id): ChargingSession}; `added` collects the new rows (faults,
    sessions) for the writer to insert.
    """

    def __init__(self, connectors: Optional[dict] = None, open_faults: Optional[dict] = None,
                 sessions: Optional[dict] = None):
        self.connectors: dict[tuple[int, int], State] = connectors if connectors is not None else {}
        self.open_faults: dict[tuple[int, int], list[ChargerFault]] = open_faults if open_faults is not None else {}
        self.sessions: dict[tuple[int, int], ChargingSession] = sessions if sessions is not None else {}
        self.added: list = []


class Call:
    """One OCPP CALL as the rules see it: the charger it came from, its payload and times, and its flags."""

    __slots__ = ("charger", "payload", "msg_id", "raw", "ts", "at", "flags")

    def __init__(self, charger: ChargerUpdate, payload: dict, at: datetime, ts: Optional[datetime] = None,
                 msg_id: Optional[str] = None, raw: str = "", flags: Optional[list[str]] = None):
        self.charger, self.payload, self.at, self.ts = charger, payload, at, ts
        self.msg_id, self.raw = msg_id, raw
        self.flags = flags if flags is not None else []

    @property
    def when(self) -> datetime:
        """The charger's own time of the message (its `ts`), else when we received it."""
        return self.ts or self.at


def heartbeat(call: Call, state: ChargerState) -> None:
    call.charger.beats.append(call.when)


def boot_notification(call: Call, state: ChargerState) -> None:
    charger, p = call.charger, call.payload
    for attr, key, size in (
        ("vendor", "chargePointVendor", 40), ("model", "chargePointModel", 40),
        ("firmware_version", "firmwareVersion", 60),
    ):
        if isinstance(p.get(key), str):
            charger.values[attr] = p[key][:size]
    serial = p.get("chargePointSerialNumber") or p.get("chargeBoxSerialNumber")
    if isinstance(serial, str):
        charger.values["serial"] = serial[:40]
    charger.values["booted_at"] = charger.boot_at = call.when
    charger.beats.clear()  # the heartbeat clock starts again at the boot


def status_notification(call: Call, state: ChargerState) -> None:
    charger, p = call.charger, call.payload
    connector_id = as_int(p.get("connectorId"))
    if connector_id is None or connector_id < 0:
        call.flags.append("StatusNotification without a valid connectorId")
        return
    status = p.get("status") if isinstance(p.get("status"), str) else None
    error_code = p.get("errorCode") if isinstance(p.get("errorCode"), str) else None
    if status not in CONNECTOR_STATUSES:
        call.flags.append(f"unknown status {status!r}")
    if error_code not in ERROR_CODES:
        call.flags.append(f"unknown errorCode {error_code!r}")
    key = (charger.id, connector_id)
    connector, call_when = state.connectors.get(key), call.when
    if connector is None:
        connector = State(id=None, charger_id=charger.id, connector_id=connector_id,
                          **{n: None for n in CONNECTOR_STATE})
        state.connectors[key] = connector
    elif connector.updated_at and call.when < connector.updated_at:
        if call.when < connector.updated_at.replace(microsecond=0) or call.when.microsecond:
            return  # an older status delivered late does not overwrite a newer one
        # a charger stamps whole seconds: a status within the second of what we hold (a connector the back
        # office created at 12:00:00.371, a status stamped 12:00:00) is not older; it keeps the finer stamp
        # so that the stored row's guard (updated_at <= the new one) lets it through
        call_when = connector.updated_at
    connector.dirty = True
    connector.status = (status or "")[:30] or None
    connector.error_code = (error_code or "")[:60] or None
    connector.vendor_error_code = str(p.get("vendorErrorCode"))[:60] if p.get("vendorErrorCode") else None
    connector.info = str(p.get("info"))[:100] if p.get("info") else None
    connector.updated_at = call_when
    faults = state.open_faults.setdefault(key, [])
    if is_fault(status, error_code):
        code = error_code if error_code and error_code != "NoError" else "Faulted"
        current = next((f for f in faults if f.error_code == code[:60]), None)
        if current is None:
            current = ChargerFault(
                charger_id=charger.id, connector_id=connector_id, error_code=code[:60],
                vendor_error_code=connector.vendor_error_code, info=connector.info,
                nonstandard=code not in ERROR_CODES and code != "Faulted", occurrences=1,
                first_seen=call.when, last_seen=call.when,
            )
            state.added.append(current)
            faults.append(current)
        else:
            current.occurrences = (current.occurrences or 0) + 1
            current.last_seen = call.when
    else:
        for f in faults:
            f.cleared_at = call.when
        faults.clear()


def start_transaction(call: Call, state: ChargerState) -> None:
    charger, p = call.charger, call.payload
    connector_id = as_int(p.get("connectorId"))
    tx = as_int(p.get("transactionId"))
    if tx is None:  # the gateway adds the id it answered; without it, a stable one from the msg_id
        tx = zlib.crc32((call.msg_id or call.raw).encode()) & 0x7FFFFFFF
        call.flags.append("no transactionId: derived from msg_id")
    if connector_id is None:
        call.flags.append("StartTransaction without connectorId")
        connector_id = 1
    if (charger.id, tx) in state.sessions:
        return
    meter = as_int(p.get("meterStart"))
    started = parse_ts(p.get("timestamp")) or call.when
    s = ChargingSession(
        charger_id=charger.id, transaction_id=tx, connector_id=connector_id,
        id_tag=str(p.get("idTag") or "")[:20] or None, meter_start=meter, meter_last=meter,
        energy_kwh=0.0, status="Active", started_at=started, updated_at=call.at,
    )
    state.added.append(s)
    state.sessions[(charger.id, tx)] = s


def stop_transaction(call: Call, state: ChargerState) -> None:
    p = call.payload
    s = state.sessions.get((call.charger.id, as_int(p.get("transactionId"))))
    if s is None:
        call.flags.append("StopTransaction for an unknown transaction")
        return
    meter = as_int(p.get("meterStop"))
    if meter is not None:
        s.meter_stop = s.meter_last = meter
        if s.meter_start is not None:
            s.energy_kwh = max(0, meter - s.meter_start) / 1000.0
    s.stopped_at = parse_ts(p.get("timestamp")) or call.when
    s.stop_reason = str(p.get("reason") or "Local")[:30]
    s.status, s.power_kw, s.updated_at = "Completed", 0.0, call.at


def meter_values(call: Call, state: ChargerState) -> None:
    charger, p = call.charger, call.payload
    tx = as_int(p.get("transactionId"))
    connector_id = as_int(p.get("connectorId"))
    s = state.sessions.get((charger.id, tx)) if tx is not None else None
    if s is None:
        s = next(
            (x for (cid, _), x in state.sessions.items()
             if cid == charger.id and x.status == "Active" and x.connector_id == connector_id),
            None,
        )
    values = p.get("meterValue")
    if not isinstance(values, list):
        call.flags.append("meterValue is not a list")
        return
    if s is None:
        if tx is not None:
            call.flags.append("MeterValues for an unknown transaction")
        return
    for mv in values:
        samples = mv.get("sampledValue") if isinstance(mv, dict) else None
        if not isinstance(samples, list):
            call.flags.append("sampledValue is not a list")
            continue
        for sv in samples:
            if not isinstance(sv, dict):
                continue
            measurand = sv.get("measurand") or "Energy.Active.Import.Register"
            value = as_float(sv.get("value"))
            unit = sv.get("unit")
            if value is None:
                call.flags.append(f"{measurand} value is not a number")
                continue
            if measurand == "Energy.Active.Import.Register":
                wh = int(round(value * 1000)) if unit == "kWh" else int(round(value))
                s.meter_last = wh
                if s.meter_start is None:
                    s.meter_start = wh
                s.energy_kwh = max(0, wh - s.meter_start) / 1000.0
            elif measurand == "Power.Active.Import":
                s.power_kw = value if unit == "kW" else value / 1000.0
    s.updated_at = call.at


def firmware_status_notification(call: Call, state: ChargerState) -> None:
    """The charger's own columns; firmware campaigns keep their history beside (firmware.record_firmware_statuses)."""
    call.charger.values["firmware_status"] = str(call.payload.get("status") or "")[:40] or None
    call.charger.values["firmware_status_at"] = call.when


def diagnostics_status_notification(call: Call, state: ChargerState) -> None:
    call.charger.values["diagnostics_status"] = str(call.payload.get("status") or "")[:40] or None
    call.charger.values["diagnostics_status_at"] = call.when


def recorded_only(call: Call, state: ChargerState) -> None:
    """Kept in the raw message stream and counted as contact; nothing else changes.

    DataTransfer: only configured vendors' extensions are understood, none change state yet.
    Authorize: the gateway answers it (chargers_ocpp.authorize_id_tag) and forwards it; the charging
    itself is told by StartTransaction."""


RULES: dict[str, Callable[[Call, ChargerState], None]] = {
    "BootNotification": boot_notification,
    "Heartbeat": heartbeat,
    "StatusNotification": status_notification,
    "MeterValues": meter_values,
    "StartTransaction": start_transaction,
    "StopTransaction": stop_transaction,
    "FirmwareStatusNotification": firmware_status_notification,
    "DiagnosticsStatusNotification": diagnostics_status_notification,
    "DataTransfer": recorded_only,
    "Authorize": recorded_only,
}


def apply(action: str, call: Call, state: ChargerState) -> None:
    """The rule of `action`; an action without one (flagged when the message is read) changes nothing."""
    rule = RULES.get(action)
    if rule is not None:
        rule(call, state)


def faulted(connectors) -> dict[int, str]:
    """{charger id: what is wrong} for the chargers with a faulted connector among these."""
    out: dict[int, str] = {}
    for c in connectors:
        if is_fault(c.status, c.error_code):
            out.setdefault(c.charger_id, f"connector {c.connector_id}: {c.status} {c.error_code or ''}".strip())
    return out
