"""paho-mqtt: one place that knows how to build a client from MQTT_URL (MQTT 5, VERSION2 callbacks)."""
from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlparse

import paho.mqtt.client as mqtt


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


def make_client(url: str, client_id: str | None = None) -> tuple[mqtt.Client, BrokerAddress]:
    """A paho client configured for our broker; the caller connects and loops."""
    address = parse_mqtt_url(url)
    client = mqtt.Client(
        callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id or f"chargeops-{uuid.uuid4().hex[:12]}",
        protocol=mqtt.MQTTv5,
    )
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
