"""One charger's OCPP 1.6J session on the gateway: the `ocpp` library's ChargePoint with our answers.

Every CALL from the charger is published on the MQTT contract (`{p}/chargers/{cid}/ocpp/{Action}`)
and answered here at once; whatever needs the database (boot status, id tags, transaction ids)
goes through the gateway's small thread pool and caches, never blocking the event loop.
"""
from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import logging
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Optional

from ocpp.charge_point import camel_to_snake_case, remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.exceptions import OCPPError, ProtocolError
from ocpp.messages import Call, CallError, MessageType, _DecimalEncoder, _validate_payload, unpack
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.datatypes import IdTagInfo
from ocpp.v16.enums import Action
from websockets.exceptions import ConnectionClosed

if TYPE_CHECKING:
    from app.ocpp.gateway import Gateway

log = logging.getLogger("chargeops.ocpp")
quiet = logging.getLogger("chargeops.ocpp.frames")  # the library logs every frame at INFO: too much for a fleet
quiet.setLevel(logging.WARNING)

SHORT_ID = 16  # message ids shorter than this are counters that restart with the charger: made unique per connection

_now: tuple[int, str] = (0, "")


def iso_now() -> str:
    """The current UTC second, ISO 8601 (formatted once a second: every CALL's answer and envelope asks)."""
    global _now
    second = int(time.time())
    if _now[0] != second:
        _now = (second, datetime.fromtimestamp(second, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return _now[1]


# --- the library's per-CALL work, done once per key or per class ------------------------------------------
_encode_frame = _DecimalEncoder(separators=(",", ":")).encode  # what CallResult.to_json() builds per call
_snake_keys: dict[str, str] = {}
_camel_fields: dict[type, tuple[tuple[str, str], ...]] = {}
_wants_unique_id: dict = {}
_empty_is_valid: set[tuple[str, str]] = set()  # (OCPP version, action) whose schema accepts {} (a Heartbeat's)
_PLAIN = (str, int, float, bool)


def _snake(data):
    """camel_to_snake_case() of the library, each key's regexes run once (bounded: keys come from chargers)."""
    if isinstance(data, dict):
        converted = {}
        for key, value in data.items():
            snake = _snake_keys.get(key)
            if snake is None:
                (snake,) = camel_to_snake_case({key: None})
                if len(_snake_keys) < 4096:
                    _snake_keys[key] = snake
            converted[snake] = _snake(value)
        return converted
    if isinstance(data, list):
        return [_snake(value) for value in data]
    return data


def _camel(answer) -> Optional[dict]:
    """snake_to_camel_case(remove_nones(serialize_as_dict(answer))) of the library for a dataclass of plain
    values and dataclasses (every answer here), fields and their camelCase names read once per class;
    None for anything else (a list, an enum...): the library's own functions then."""
    fields = _camel_fields.get(type(answer))
    if fields is None:
        fields = tuple((f.name, next(iter(snake_to_camel_case({f.name: None})))) for f in dataclasses.fields(answer))
        _camel_fields[type(answer)] = fields
    payload = {}
    for name, key in fields:
        value = getattr(answer, name)
        if value is None:
            continue
        if type(value) not in _PLAIN:
            if not dataclasses.is_dataclass(value) or isinstance(value, type):
                return None
            value = _camel(value)
            if value is None:
                return None
        payload[key] = value
    return payload


def _answer_json(answer, unique_id) -> str:
    payload = _camel(answer)
    if payload is None:
        payload = snake_to_camel_case(remove_nones(serialize_as_dict(answer)))
    return _encode_frame([MessageType.CallResult, unique_id, payload])


def garbage_error(raw, error: OCPPError) -> str:
    """A CALLERROR for a frame that is no OCPP message; its id if one can be read, else "-1" (as OCPP 2.0.1 says)."""
    unique_id = "-1"
    try:
        frame = json.loads(raw)
        if isinstance(frame, list) and len(frame) > 1 and isinstance(frame[1], str):
            unique_id = frame[1][:36]
    except (ValueError, TypeError):
        pass
    return CallError(unique_id, error.code, error.description or "Not an OCPP message", {}).to_json()


class ChargerConnection(ChargePoint):
    """The central-system side of one charger's WebSocket."""

    def __init__(self, cid: str, connection, gateway: "Gateway", connection_tag: str):
        super().__init__(cid, connection, response_timeout=gateway.command_timeout, logger=quiet)
        self.gateway = gateway
        self.connection_tag = connection_tag
        self._inbound: Optional[Call] = None  # the CALL being answered (messages of one socket are handled in turn)

    # --- inbound frames ---------------------------------------------------------------------------
    async def route_message(self, raw_msg):
        """The library's routing, except that a frame it cannot read gets a CALLERROR (the socket stays up)."""
        try:
            msg = unpack(raw_msg)
        except OCPPError as error:
            self.gateway.stats["malformed"] += 1
            await self._send(garbage_error(raw_msg, error))
            return
        if msg.message_type_id == MessageType.Call:
            if not isinstance(msg.action, str) or not isinstance(msg.payload, dict):
                self.gateway.stats["malformed"] += 1
                await self._send(garbage_error(raw_msg, ProtocolError("Action must be a string and payload an object")))
                return
            self._inbound = msg
            try:
                if msg.action in self.route_map:
                    # the library's own schemas, checked inline: a thread-pool hop per frame (the library's default)
                    # costs more than the check; the answers are built from its dataclasses and not checked again.
                    # An empty payload's verdict depends on the action alone: checked once (if accepted)
                    if msg.payload or (self._ocpp_version, msg.action) not in _empty_is_valid:
                        _validate_payload(msg, self._ocpp_version)
                        if not msg.payload:
                            _empty_is_valid.add((self._ocpp_version, msg.action))
                await self._handle_call(msg)
            except OCPPError as error:
                await self._send(msg.create_call_error(error).to_json())
            finally:
                self._inbound = None
        elif msg.message_type_id in (MessageType.CallResult, MessageType.CallError):
            self._response_queue.put_nowait(msg)

    async def _handle_call(self, msg: Call):
        """The library's ChargePoint._handle_call for our handlers (@on, skip_schema_validation, no @after),
        without its per-call cost: the handler's signature is read once, payload keys are converted through a
        cache, the answer is serialized from its class's fields. Same kwargs, same answer, same CALLERRORs."""
        handlers = self.route_map.get(msg.action)
        if (handlers is None or "_after_action" in handlers or "_on_action" not in handlers
                or not handlers.get("_skip_schema_validation", False)):
            return await super()._handle_call(msg)  # unknown action (its CALLERROR), or a route not of ours
        handler = handlers["_on_action"]
        kwargs = _snake(msg.payload)
        function = getattr(handler, "__func__", handler)
        wants_unique_id = _wants_unique_id.get(function)
        if wants_unique_id is None:
            wants_unique_id = _wants_unique_id[function] = "call_unique_id" in inspect.signature(handler).parameters
        try:
            if wants_unique_id:
                response = handler(**kwargs, call_unique_id=msg.unique_id)
            else:
                response = handler(**kwargs)
            if inspect.isawaitable(response):
                response = await response
        except Exception as e:
            self.logger.exception("Error while handling request '%s'", msg)
            await self._send(msg.create_call_error(e).to_json())
            return
        await self._send(_answer_json(response, msg.unique_id))
        return response

    def _msg_id(self, unique_id: str) -> str:
        return unique_id if len(unique_id) >= SHORT_ID else f"{self.connection_tag}-{unique_id}"

    def _forward(self, **extra) -> None:
        """Publish the CALL being answered on the MQTT contract (payload as the charger sent it)."""
        msg = self._inbound
        payload = {**msg.payload, **extra} if extra else msg.payload
        self.gateway.publish_ocpp(self.id, msg.action, self._msg_id(str(msg.unique_id)), payload)

    # --- answers --------------------------------------------------------------------------------------
    @on(Action.boot_notification, skip_schema_validation=True)
    async def on_boot_notification(self, **_):
        self._forward()
        status, interval = await self.gateway.boot_answer(self.id)
        return call_result.BootNotification(current_time=iso_now(), interval=interval, status=status)

    @on(Action.heartbeat, skip_schema_validation=True)
    def on_heartbeat(self, **_):
        self._forward()
        return call_result.Heartbeat(current_time=iso_now())

    @on(Action.authorize, skip_schema_validation=True)
    async def on_authorize(self, id_tag: str, **_):
        self._forward()
        return call_result.Authorize(id_tag_info=IdTagInfo(status=await self.gateway.authorize(id_tag)))

    @on(Action.start_transaction, skip_schema_validation=True)
    async def on_start_transaction(self, connector_id: int, id_tag: str, **_):
        status = await self.gateway.authorize(id_tag)
        transaction_id = await self.gateway.issue_transaction_id(self.id, connector_id, id_tag, status)
        self._forward(transactionId=transaction_id)  # the ingest opens the session under the id we answer
        return call_result.StartTransaction(transaction_id=transaction_id, id_tag_info=IdTagInfo(status=status))

    @on(Action.stop_transaction, skip_schema_validation=True)
    async def on_stop_transaction(self, id_tag: Optional[str] = None, **_):
        self._forward()
        if id_tag is None:
            return call_result.StopTransaction()
        return call_result.StopTransaction(id_tag_info=IdTagInfo(status=await self.gateway.authorize(id_tag)))

    @on(Action.status_notification, skip_schema_validation=True)
    def on_status_notification(self, **_):
        self._forward()
        return call_result.StatusNotification()

    @on(Action.meter_values, skip_schema_validation=True)
    def on_meter_values(self, **_):
        self._forward()
        return call_result.MeterValues()

    @on(Action.firmware_status_notification, skip_schema_validation=True)
    def on_firmware_status_notification(self, **_):
        self._forward()
        return call_result.FirmwareStatusNotification()

    @on(Action.diagnostics_status_notification, skip_schema_validation=True)
    def on_diagnostics_status_notification(self, **_):
        self._forward()
        return call_result.DiagnosticsStatusNotification()

    @on(Action.data_transfer, skip_schema_validation=True)
    def on_data_transfer(self, vendor_id: str, **_):
        self._forward()  # recorded either way; only configured vendors' extensions are understood
        accepted = vendor_id in self.gateway.app.config["OCPP_DATA_TRANSFER_VENDORS"]
        return call_result.DataTransfer(status="Accepted" if accepted else "UnknownVendorId")

    # --- commands from ChargeOps ---------------------------------------------------------------------
    async def send_command(self, action: str, payload: dict) -> tuple[Optional[str], Optional[dict]]:
        """Send one command as an OCPP CALL: (status, conf payload) for the result topic, or (None, None)
        when the charger did not answer (ChargeOps times the command out itself)."""
        request_class = getattr(call, action, None) if action in COMMAND_ACTIONS else None
        if request_class is None:
            return "Rejected", {"reason": f"{action} is not a command the gateway sends"}
        try:
            request = request_class(**camel_to_snake_case(payload))
        except TypeError as exc:
            return "Rejected", {"reason": f"not an OCPP 1.6 {action} request: {exc}"}
        try:
            conf = await self.call(request, suppress=False)
        except OCPPError as error:  # the charger's CALLERROR (or a request the schema refuses)
            return error.code, {"errorCode": error.code, "errorDescription": error.description,
                                "errorDetails": error.details if isinstance(error.details, dict) else {}}
        except (asyncio.TimeoutError, ConnectionClosed):
            return None, None
        except Exception as exc:  # e.g. a CALLERROR code OCPP does not define
            log.warning("ocpp: %s answered %s oddly: %s", self.id, action, exc)
            return "Rejected", {"reason": str(exc)[:200]}
        body = snake_to_camel_case(remove_nones(serialize_as_dict(conf)))
        return str(body.get("status") or "Accepted"), body  # UpdateFirmware.conf is empty: delivered is accepted


COMMAND_ACTIONS = (
    "Reset", "RemoteStartTransaction", "RemoteStopTransaction", "UnlockConnector", "ChangeAvailability",
    "TriggerMessage", "UpdateFirmware", "GetDiagnostics",
)
