"""paho-mqtt: one place that knows how to build a client from MQTT_URL (MQTT 5, VERSION2 callbacks)."""
from __future__ import annotations

import socket
import threading
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None
    password: str | None
    tls: bool


def parse_mqtt_url(url: str) -> BrokerAddress:
    parts = urlparse(url)
    tls = parts.scheme in ("mqtts", "ssl")
    return BrokerAddress(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or (8883 if tls else 1883),
        username=parts.username,
        password=parts.password,
        tls=tls,
    )


def _no_delay(client, userdata, sock) -> None:
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass  # not a TCP socket (e.g. websockets / unix)


def make_client(url: str, client_id: str | None = None, **options) -> tuple[mqtt.Client, BrokerAddress]:
    """A paho client configured for our broker; the caller connects and loops.

    `options` go to paho's Client (e.g. manual_ack=True for the ingest).
    """
    address = parse_mqtt_url(url)
    client = mqtt.Client(
        callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id or f"chargeops-{uuid.uuid4().hex[:12]}",
        protocol=mqtt.MQTTv5,
        **options,
    )
    client.on_socket_open = _no_delay  # small QoS 1 packets must not wait for Nagle (commands, acks)
    if address.username:
        client.username_pw_set(address.username, address.password)
    if address.tls:
        client.tls_set()
    return client, address


def broker_reachable(url: str, timeout: float = 2.0) -> bool:
    """Connect and wait for CONNACK; used by /health."""
    client, address = make_client(url)
    connected = threading.Event()
    client.on_connect = lambda c, u, f, reason, p: reason.is_failure or connected.set()
    client.connect_timeout = timeout
    try:
        client.connect(address.host, address.port, keepalive=10)
        deadline = time.monotonic() + timeout
        while not connected.is_set() and time.monotonic() < deadline:
            client.loop(timeout=0.02)
        return connected.is_set()
    except OSError:
        return False
    finally:
        client.disconnect()


class Publisher:
    """One connected client per process for QoS 1 publishes (commands); reconnects on its own."""

    def __init__(self, url: str):
        self.url = url
        self.client, self.address = make_client(url)
        self.connected = threading.Event()
        self.client.on_connect = lambda c, u, f, reason, p: reason.is_failure or self.connected.set()
        self.client.on_disconnect = lambda c, u, f, reason, p: self.connected.clear()
        self.client.reconnect_delay_set(min_delay=1, max_delay=5)
        self.client.connect_async(self.address.host, self.address.port, keepalive=30)
        self.client.loop_start()
        self.connect_by = time.monotonic() + 3.0  # a fresh client may wait this long for its first CONNACK

    def publish(self, topic: str, payload: str | bytes, timeout: float = 5.0, expiry: int | None = None) -> bool:
        """QoS 1; True once the broker acknowledged it. Never sent later: while the broker is away it
        returns False at once without queueing, and a publish not acknowledged within `timeout` gets
        this client thrown away with its queue (paho would resend it on reconnect). `expiry`: the MQTT 5
        message expiry interval, in seconds, after which the broker drops it for its subscribers."""
        if not self.connected.is_set():
            first_wait = min(timeout, self.connect_by - time.monotonic())
            if first_wait <= 0 or not self.connected.wait(first_wait):
                return False  # the broker is away: never queued for later
        properties = None
        if expiry is not None:
            properties = Properties(PacketTypes.PUBLISH)
            properties.MessageExpiryInterval = max(1, int(expiry))
        info = self.client.publish(topic, payload, qos=1, properties=properties)
        try:
            info.wait_for_publish(timeout=max(timeout, 0.1))
        except (RuntimeError, ValueError):
            pass
        if info.is_published():
            return True
        self.discard()
        return False

    def discard(self) -> None:
        """Forget this client and whatever it still holds; the next publish builds a fresh one."""
        with _publishers_lock:
            if _publishers.get(self.url) is self:
                del _publishers[self.url]
        self.client.disconnect()  # from here on paho's loop does not reconnect, so nothing queued goes out
        threading.Thread(target=self.client.loop_stop, daemon=True).start()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


_publishers: dict[str, Publisher] = {}
_publishers_lock = threading.Lock()


def shared_publisher(url: str) -> Publisher:
    with _publishers_lock:
        if url not in _publishers:
            _publishers[url] = Publisher(url)
        return _publishers[url]
