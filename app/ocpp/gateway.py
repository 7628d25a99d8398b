"""`flask ocpp-gateway`: the OCPP 1.6J gateway between real chargers and the MQTT contract.

One asyncio process: a `websockets` server on ws(s)://OCPP_HOST:OCPP_PORT{OCPP_PATH_PREFIX}<cid>
(subprotocol ocpp1.6), one `ChargerConnection` (the `ocpp` library's ChargePoint) per charger, and
one paho client on the same loop (app/integrations/mqtt_asyncio.py).

- Handshake: HTTP Basic `<cid>:<password>` checked against the charger's hashed OCPP password
  (security profile 1; profile 2 is the same over TLS when OCPP_TLS_CERT/KEY are set). Anything
  else is refused before the WebSocket opens (401; 404 for another path; 400 without ocpp1.6).
  With OCPP_AUTO_REGISTER an unknown identity is registered as a pending charger instead.
- Charger -> ChargeOps: every CALL is published on `{p}/chargers/{cid}/ocpp/{Action}` and answered
  here (see central_system.py).
- ChargeOps -> charger: the gateway subscribes to `{p}/chargers/{cid}/cmd/+` of each charger it
  holds, on connect, and drops the subscription on disconnect: a command reaches only the process
  holding the socket. Clean MQTT session, no retained copies, no-local: a command is delivered
  now or never, and one older than the command timeout is dropped.
- Nobody holds it: every gateway is also in the shared subscription
  `$share/ocpp-gateway/{p}/chargers/+/cmd/+`, so exactly one of them sees each command. If that one
  does not hold the charger, it asks the registry (charger_ocpp_link + ocpp_gateway_node in the
  database: which live gateway holds which charger); a charger with an OCPP password that no live
  gateway holds gets the result `NotConnected` at once. Chargers without an OCPP password speak
  MQTT natively and are left alone.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import http
import json
import logging
import secrets
import socket
import ssl
import threading
import time
import uuid
from collections import Counter, OrderedDict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Optional
from urllib.parse import unquote

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidHeader
from websockets.headers import build_www_authenticate_basic, parse_authorization_basic

from app.integrations.mqtt_asyncio import LoopMqtt
from app.models.base import utcnow
from app.ocpp.central_system import ChargerConnection, iso_now
from app.services import chargers
from app.services import chargers_ocpp as rules
from app.extensions import db

log = logging.getLogger("chargeops.ocpp")
SUBPROTOCOL = "ocpp1.6"
SHARED_GROUP = "ocpp-gateway"
_compact_json = json.JSONEncoder(separators=(",", ":")).encode  # json.dumps(..., separators=(",", ":")), built once


def _parse_ts(value) -> Optional[datetime]:
    """The contract's ISO-8601 UTC time as naive UTC (None if absent or unreadable)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(timezone.utc).replace(tzinfo=None) if parsed.tzinfo else parsed


def default_node_id(port: int) -> str:
    return f"{socket.gethostname()}:{port}"[:80]


class Gateway:
    """start() / stop() for tests and benches (its own thread and loop); run_forever() for the CLI."""

    def __init__(self, app, host: Optional[str] = None, port: Optional[int] = None, node: Optional[str] = None,
                 prefix: Optional[str] = None, mqtt_url: Optional[str] = None, auto_register: Optional[bool] = None):
        cfg = app.config
        self.app = app
        self.host = host or cfg["OCPP_HOST"]
        self.port = cfg["OCPP_PORT"] if port is None else port
        self.path_prefix = "/" + cfg["OCPP_PATH_PREFIX"].strip("/") + "/" if cfg["OCPP_PATH_PREFIX"].strip("/") else "/"
        self.prefix = prefix or cfg["MQTT_TOPIC_PREFIX"]
        self.mqtt_url = mqtt_url or cfg["MQTT_URL"]
        self.auto_register = cfg["OCPP_AUTO_REGISTER"] if auto_register is None else auto_register
        self.node = node or cfg["OCPP_NODE_ID"] or default_node_id(self.port)
        self.command_timeout = cfg["CHARGER_COMMAND_TIMEOUT"]
        self.chargers: dict[str, ChargerConnection] = {}
        self.stats: Counter = Counter()
        self.executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ocpp-db")
        self._auth_key = secrets.token_bytes(32)
        self._verified: dict[str, tuple[str, bytes]] = {}  # cid -> (stored hash, HMAC of the password it matched)
        self._tags: dict[str, tuple[float, str]] = {}  # id tag -> (until, status)
        self._recent_commands: OrderedDict[str, None] = OrderedDict()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._stopping: Optional[asyncio.Event] = None
        self._thread: Optional[threading.Thread] = None
        self.ready = threading.Event()
        self.mqtt: Optional[LoopMqtt] = None
        self.server = None

    # --- the database, off the loop ---------------------------------------------------------------
    def _in_session(self, rule, *args):
        with self.app.app_context():
            try:
                result = rule(db.session, *args)
                db.session.commit()
                return result
            except Exception:
                db.session.rollback()
                raise
            finally:
                db.session.remove()

    async def _db(self, rule, *args):
        return await self._loop.run_in_executor(self.executor, self._in_session, rule, *args)

    # --- handshake ---------------------------------------------------------------------------------
    def _refuse(self, connection: ServerConnection, status: http.HTTPStatus, text: str, challenge: bool = False):
        self.stats["refused"] += 1
        response = connection.respond(status, text + "\n")
        if challenge:
            response.headers["WWW-Authenticate"] = build_www_authenticate_basic("ChargeOps OCPP")
        return response

    async def _admit(self, connection: ServerConnection, request):
        """process_request: the charger's identity from the path, its password from Basic auth."""
        path = request.path.split("?", 1)[0]
        cid = unquote(path[len(self.path_prefix):]) if path.startswith(self.path_prefix) else ""
        if not chargers.valid_cid(cid):
            return self._refuse(connection, http.HTTPStatus.NOT_FOUND, f"connect to {self.path_prefix}<charge point identity>")
        offered = ",".join(request.headers.get_all("Sec-WebSocket-Protocol"))
        if SUBPROTOCOL not in [p.strip() for p in offered.split(",")]:
            return self._refuse(connection, http.HTTPStatus.BAD_REQUEST, f"subprotocol {SUBPROTOCOL} required")
        try:
            username, password = parse_authorization_basic(request.headers["Authorization"])
        except (KeyError, InvalidHeader):
            return self._refuse(connection, http.HTTPStatus.UNAUTHORIZED, "HTTP Basic credentials required", True)
        if username != cid or not await self._password_ok(cid, password):
            log.warning("ocpp: %s refused at the handshake (%s)", cid, connection.remote_address)
            return self._refuse(connection, http.HTTPStatus.UNAUTHORIZED, "invalid credentials", True)
        connection.username = cid
        return None

    async def _password_ok(self, cid: str, password: str) -> bool:
        account = await self._db(rules.ocpp_account, cid)
        if account is None or not account.password_hash:
            if not self.auto_register or (account is not None and not account.unregistered):
                return False  # unknown, or registered by someone who has not set its password yet
            await self._db(rules.register_pending_charger, cid, password)
            return True
        digest = hmac.new(self._auth_key, password.encode("utf-8", "surrogateescape"), hashlib.sha256).digest()
        known = self._verified.get(cid)
        if known and known[0] == account.password_hash:  # a reconnect storm must not re-run the slow hash
            return hmac.compare_digest(known[1], digest)
        ok = await self._loop.run_in_executor(self.executor, rules.password_matches, account.password_hash, password)
        if ok:
            self._verified[cid] = (account.password_hash, digest)
        return ok

    # --- one charger's socket -------------------------------------------------------------------------
    async def _serve_charger(self, websocket: ServerConnection) -> None:
        cid = websocket.username
        if websocket.subprotocol != SUBPROTOCOL:
            await websocket.close(1002, "ocpp1.6 required")
            return
        connection = ChargerConnection(cid, websocket, self, uuid.uuid4().hex[:8])
        previous, self.chargers[cid] = self.chargers.get(cid), connection
        if previous is not None:  # the charger reconnected before its old socket died: the new one wins
            await previous._connection.close(1000, "replaced by a new connection")
        self.stats["connections"] += 1
        remote = websocket.remote_address[0] if websocket.remote_address else None
        try:
            await self._db(rules.mark_connected, cid, self.node, remote)
        except Exception:
            log.exception("ocpp: could not record %s as connected", cid)
        self._subscribe(cid)
        try:
            await connection.start()
        except ConnectionClosed:
            pass
        finally:
            if self.chargers.get(cid) is connection:
                del self.chargers[cid]
                if self.mqtt:
                    self.mqtt.unsubscribe(self._command_topic(cid))
                if not self._stopping.is_set():
                    try:
                        await self._db(rules.mark_disconnected, cid, self.node)
                    except Exception:
                        log.exception("ocpp: could not record %s as disconnected", cid)

    # --- charger -> ChargeOps -----------------------------------------------------------------------
    def publish_ocpp(self, cid: str, action: str, msg_id: str, payload: dict) -> None:
        self.stats["calls"] += 1
        body = _compact_json({"ts": iso_now(), "msg_id": msg_id, "payload": payload})
        self.mqtt.publish(f"{self.prefix}/chargers/{cid}/ocpp/{action}", body)

    async def boot_answer(self, cid: str) -> tuple[str, int]:
        return await self._db(rules.boot_answer, cid, self.auto_register)

    async def authorize(self, id_tag: str) -> str:
        """Cached for OCPP_AUTH_CACHE_SECONDS: a busy site's Authorize + StartTransaction ask once."""
        now = time.monotonic()
        cached = self._tags.get(id_tag)
        if cached and cached[0] > now:
            return cached[1]
        status = await self._db(rules.authorize_id_tag, id_tag)
        if len(self._tags) > 50000:
            self._tags.clear()
        self._tags[id_tag] = (now + self.app.config["OCPP_AUTH_CACHE_SECONDS"], status)
        return status

    async def issue_transaction_id(self, cid: str, connector_id: int, id_tag: str, status: str) -> int:
        return await self._db(rules.issue_transaction_id, cid, connector_id, id_tag, status, self.node)

    # --- ChargeOps -> charger ------------------------------------------------------------------------
    def _command_topic(self, cid: str) -> str:
        return f"{self.prefix}/chargers/{cid}/cmd/+"

    def _subscribe(self, cid: str) -> None:
        if self.mqtt:
            self.mqtt.subscribe(self._command_topic(cid))

    def _on_mqtt_connect(self) -> None:
        """Clean session: every (re)connect subscribes again to what this process holds."""
        self.mqtt.subscribe(f"$share/{SHARED_GROUP}/{self.prefix}/chargers/+/cmd/+", no_local=False)
        for cid in list(self.chargers):
            self._subscribe(cid)

    def _on_mqtt_message(self, message) -> None:
        parts = message.topic.split("/")
        head = self.prefix.split("/")
        if len(parts) != len(head) + 4 or parts[-2] != "cmd" or parts[-4] != "chargers":
            return
        self._loop.create_task(self._command(parts[-3], parts[-1], message.payload))

    def _first_time(self, command_id: str) -> bool:
        """A held charger's command comes twice (its own subscription and, maybe, the shared one)."""
        if command_id in self._recent_commands:
            return False
        self._recent_commands[command_id] = None
        while len(self._recent_commands) > 10000:
            self._recent_commands.popitem(last=False)
        return True

    async def _command(self, cid: str, command_id: str, raw: bytes) -> None:
        if not self._first_time(command_id):
            return
        try:
            body = json.loads(raw)
            action, payload = body["action"], body.get("payload") or {}
            if not isinstance(action, str) or not isinstance(payload, dict):
                raise ValueError("action must be a string and payload an object")
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("ocpp: ignored command %s for %s: %s", command_id, cid, exc)
            return
        sent = _parse_ts(body.get("ts"))
        if sent is not None:
            if (utcnow() - sent).total_seconds() > self.command_timeout:
                self.stats["commands_expired"] += 1  # ChargeOps has timed it out: never deliver it late
                log.warning("ocpp: dropped command %s for %s: older than the command timeout", command_id, cid)
                return
        connection = self.chargers.get(cid)
        if connection is None:
            await self._answer_if_nobody_holds(cid, command_id)
            return
        self.stats["commands"] += 1
        status, conf = await connection.send_command(action, payload)
        if status is not None:
            self._publish_result(cid, command_id, status, conf)

    async def _answer_if_nobody_holds(self, cid: str, command_id: str) -> None:
        try:
            holder = await self._db(rules.holder_of, cid)
        except Exception:
            log.exception("ocpp: could not look up who holds %s", cid)
            return
        if holder is None or not holder.on_gateway or holder.node not in (None, self.node):
            return  # not a gateway charger, or another live gateway holds it (its own subscription delivers)
        self.stats["commands_not_connected"] += 1
        self._publish_result(cid, command_id, "NotConnected",
                             {"reason": "the charger is not connected to any OCPP gateway"})

    def _publish_result(self, cid: str, command_id: str, status: str, conf: Optional[dict]) -> None:
        body = _compact_json({"ts": iso_now(), "status": status, "payload": conf or {}})
        self.mqtt.publish(f"{self.prefix}/chargers/{cid}/cmd/{command_id}/result", body)

    # --- running ------------------------------------------------------------------------------------------
    def _tls(self) -> Optional[ssl.SSLContext]:
        cert, key = self.app.config["OCPP_TLS_CERT"], self.app.config["OCPP_TLS_KEY"]
        if not (cert and key):
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2  # OCPP security profile 2
        context.load_cert_chain(cert, key)
        return context

    async def _node_heartbeat(self) -> None:
        while not self._stopping.is_set():
            try:
                await asyncio.wait_for(self._stopping.wait(), self.app.config["OCPP_NODE_HEARTBEAT_SECONDS"])
            except asyncio.TimeoutError:
                pass
            if not self._stopping.is_set():
                try:
                    await self._db(rules.gateway_alive, self.node)
                except Exception:
                    log.exception("ocpp: node heartbeat failed")

    async def serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        await self._db(rules.gateway_started, self.node)
        self.mqtt = LoopMqtt(self.mqtt_url, f"ocpp-gw-{uuid.uuid4().hex[:10]}", self._loop,
                             on_connect=self._on_mqtt_connect, on_message=self._on_mqtt_message)
        await self.mqtt.start()
        tls = self._tls()
        self.server = await serve(
            self._serve_charger, self.host, self.port, subprotocols=[SUBPROTOCOL], process_request=self._admit,
            compression=None,  # chargers rarely offer it, and it costs memory on every socket
            ssl=tls, max_size=2 ** 18, ping_interval=60, ping_timeout=60, backlog=4096,
        )
        if self.port == 0:
            self.port = self.server.sockets[0].getsockname()[1]
        heartbeat = self._loop.create_task(self._node_heartbeat())
        log.info("ocpp: gateway %s on %s://%s:%s%s<cid>, MQTT prefix %s", self.node, "wss" if tls else "ws",
                 self.host, self.port, self.path_prefix, self.prefix)
        self.ready.set()
        await self._stopping.wait()
        heartbeat.cancel()
        self.server.close()
        for connection in list(self.chargers.values()):
            try:
                await asyncio.wait_for(connection._connection.close(1001, "gateway stopping"), 2)
            except Exception:
                pass
        await self.server.wait_closed()
        await self._db(rules.gateway_stopped, self.node)
        await self.mqtt.stop()

    def run_forever(self) -> None:
        try:
            asyncio.run(self.serve())
        except KeyboardInterrupt:
            pass

    def start(self, wait: float = 30.0) -> "Gateway":
        """In a thread of this process (tests, benches); `port=0` picks a free port."""
        def main():
            try:
                asyncio.run(self.serve())
            except Exception:
                log.exception("ocpp: gateway stopped by an error")
                self.ready.set()

        self._thread = threading.Thread(target=main, name=f"ocpp-gateway-{self.port}", daemon=True)
        self._thread.start()
        if not self.ready.wait(wait) or self.server is None:
            raise RuntimeError("the OCPP gateway did not start")
        return self

    def stop(self, wait: float = 15.0) -> None:
        if self._loop and self._stopping:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread:
            self._thread.join(wait)
        self.executor.shutdown(wait=False)

    @property
    def url(self) -> str:
        scheme = "wss" if self._tls() else "ws"
        return f"{scheme}://{self.host}:{self.port}{self.path_prefix}"
