"""Remote commands to chargers: validation per OCPP action, one in flight per charger (the rest
queued), publishing after the commit, results, time-outs, and releasing the next queued command.

Services flush; the caller commits.
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any, Optional

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.chargers import (
    Charger,
    ChargerCommand,
    ChargerMessage,
)
from app.services import Conflict, InvalidInput, NotFound, iso_utc
from app.services.outbox import enqueue_after_commit
from app.services.people import require_capability
from app.services.chargers import _cfg, get_charger
from app.services.activity import record_activity
from app.extensions import db
from app.integrations.mqtt import shared_publisher


IN_FLIGHT = ("Pending", "Sent")
OPEN_COMMAND_STATUSES = ("Queued",) + IN_FLIGHT


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
    return {"ts": iso_utc(command.sent_at or utcnow()), "action": command.action, "payload": json.loads(command.payload)}


def create_command(session: Session, cid: str, action: Any, payload: Any, user_id: Optional[int]) -> ChargerCommand:
    """Store the command; it goes out now (Pending) or waits its turn (Queued). Caller commits, then publishes.
    A charger that is Offline is refused at once (Conflict): the command would never reach it."""
    payload = validate_command(action, payload)
    charger = get_charger(session, cid)
    if charger.offline_after is None or charger.offline_after < utcnow():  # the Offline bucket's own rule
        raise Conflict(f"charger {charger.cid} is Offline: the command would not be delivered")
    # take the charger's row lock first so two senders cannot both see "nothing in flight"
    session.execute(update(Charger).where(Charger.id == charger.id).values(commands_sent=Charger.commands_sent + 1))
    busy = session.scalar(
        select(func.count()).select_from(ChargerCommand).where(
            ChargerCommand.charger_id == charger.id, ChargerCommand.status.in_(OPEN_COMMAND_STATUSES)
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


def publish_command(command_id: str, wait: Optional[float] = None) -> bool:
    """Publish a Pending command (after its row is committed) and mark it Sent once the broker has it.

    It goes out only before its deadline (expires_at), with the MQTT 5 message expiry interval set
    to what is left, so neither we nor the broker deliver it late. When the broker is away it stays
    Pending ("not delivered") and is tried again through the outbox until the deadline; then the
    time-out marks it Timeout, never sent. `wait`: the longest wait for the broker's acknowledgement
    (a request passes CHARGER_PUBLISH_WAIT_IN_REQUEST, a second or less: past it the command stays Pending
    and a worker tries again); the worker's own tries wait up to 5 s. Returns whether it was published.
    Commits."""
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
    body = json.dumps({"ts": iso_utc(now), "action": command.action, "payload": json.loads(command.payload)})
    topic = command_topic(_cfg("MQTT_TOPIC_PREFIX"), command.charger.cid, command.command_id)
    charger_id, action, payload = command.charger_id, command.action, command.payload
    session.rollback()  # no transaction held while waiting for the broker
    published = shared_publisher(_cfg("MQTT_URL")).publish(topic, body, timeout=min(5.0 if wait is None else wait, left - 0.1), expiry=max(1, int(left)))
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
        publish_command(command.command_id, wait=_cfg("CHARGER_PUBLISH_WAIT_IN_REQUEST"))
    return command


def time_out_command(session: Session, command_id: str, now: Optional[datetime] = None) -> bool:
    """Mark it Timeout if still unanswered; the next queued command then gets its turn (caller commits)."""
    command = session.scalar(select(ChargerCommand).where(ChargerCommand.command_id == command_id))
    if command is None or command.status not in IN_FLIGHT:
        return False
    command.status = "Timeout"
    command.timed_out_at = now or utcnow()
    return True


def release_next_command(session: Session, charger_id: int) -> Optional[str]:
    """After a command finished (answered or timed out): when nothing else is in flight, the charger's
    oldest Queued command gets its turn and its publish is queued for after the commit. The one way a
    queued command is released (ingest, time-out, sweep); returns its command_id. Caller commits."""
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
    if command is None:
        return None
    _its_turn(session, command)
    enqueue_after_commit(session, "chargers.publish_command", command.command_id)
    return command.command_id


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
        "created_at": iso_utc(c.created_at), "sent_at": iso_utc(c.sent_at), "answered_at": iso_utc(c.answered_at),
    }

