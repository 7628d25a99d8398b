"""The ingest's receiver (`flask ingest`): the MQTT session, batching, acknowledgements, the writer process.

paho's network thread only queues (on_message); batches of up to INGEST_BATCH_SIZE messages
(or what arrived within INGEST_BATCH_MS) go to the writer (`ingest_writer`), in a process of its
own by default. Messages are acknowledged (manual_ack) only once the writer reports their batch
committed: a crash before the commit means the broker redelivers them, and the raw stream,
unique on (charger, msg_id), drops whatever was already applied.
"""
from __future__ import annotations

import gc
import logging
import multiprocessing
import pickle
import queue
import threading
import time
from typing import Any, Optional

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from app.extensions import db
from app.integrations.mqtt import make_client
from app.models.base import utcnow
from app.services.ingest_writer import BatchWriter, Incoming

log = logging.getLogger("chargeops.ingest")


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


def _portable_config(app) -> dict[str, Any]:
    """The app's settings that can cross to the writer process (modules and functions cannot)."""
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
    from app import create_app  # why: the app package imports this module (flask ingest); the factory is needed only here

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
        _FORKSERVER = multiprocessing.get_context("forkserver")
        _FORKSERVER.set_forkserver_preload(["app", "app.services.chargers_ingest", "app.services.ingest_writer"])
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

    def open_session(self, wait: float = 30.0) -> bool:
        """Create (or confirm) this ingest's persistent session and subscriptions at the broker, then leave.

        The contract's persistent session keeps what chargers publish while the ingest is away, but only
        once the session exists: on a first start, whatever a gateway published before the ingest's first
        SUBSCRIBE is gone (chargers booted in those seconds stay Offline until their next heartbeat,
        five minutes for some). `make run` opens the session before it starts the processes. Nothing is
        read here: a message that arrives meanwhile is left unacknowledged, so the broker redelivers it.
        Returns whether the broker confirmed the subscriptions."""
        done = threading.Event()
        client, address = make_client(self.url, self.client_id, manual_ack=True)
        client.on_connect = lambda c, u, flags, reason, p: None if reason.is_failure else c.subscribe(
            [(topic, mqtt.SubscribeOptions(qos=1)) for topic in subscriptions(self.prefix, self.shared)])
        client.on_subscribe = lambda *args: done.set()
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry
        props.ReceiveMaximum = 1  # at most one message held back, and the broker redelivers it
        client.connect(address.host, address.port, keepalive=30, clean_start=False, properties=props)
        client.loop_start()
        try:
            return done.wait(wait)
        finally:
            client.disconnect()
            client.loop_stop()

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
