"""paho-mqtt driven by an asyncio event loop instead of its own network thread.

The OCPP gateway answers thousands of chargers from one event loop; publishing from that loop
into paho's thread would cost a lock and a thread switch per message and let the two fight over
the interpreter lock. Here paho's socket is just another reader/writer of the loop (paho's own
`loop_asyncio` example): `publish()` queues the packet and the loop writes it when the socket is
writable, callbacks (on_connect, on_message) run on the loop. Reconnects are ours: every second
the housekeeping task checks the session and reconnects with a back-off.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import threading
from typing import Callable, Optional

import paho.mqtt.client as mqtt

from app.integrations.mqtt import make_client

log = logging.getLogger("chargeops.mqtt")


class LoopMqtt:
    """One paho client (MQTT 5, clean start) living on `loop`. Start with `await start()`."""

    def __init__(self, url: str, client_id: str, loop: asyncio.AbstractEventLoop,
                 on_connect: Optional[Callable[[], None]] = None,
                 on_message: Optional[Callable[[mqtt.MQTTMessage], None]] = None):
        self.loop = loop
        self.client, self.address = make_client(url, client_id)
        self.client.max_inflight_messages_set(1000)  # QoS 1 publishes in flight before paho queues them
        self.client.connect_timeout = 3.0
        self.connected = asyncio.Event()
        self._user_connect, self._user_message = on_connect, on_message
        self._thread = threading.get_ident()
        self._housekeeping: Optional[asyncio.Task] = None
        self._closing = False
        self._sock = None
        self.client.on_socket_open = self._socket_open
        self.client.on_socket_close = self._socket_close
        self.client.on_socket_register_write = self._register_write
        self.client.on_socket_unregister_write = self._unregister_write
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    # --- paho's socket on our loop (callbacks may come from the connecting executor thread) ---------
    def _on_loop(self, fn, *args) -> None:
        if threading.get_ident() == self._thread:
            fn(*args)
        else:
            self.loop.call_soon_threadsafe(fn, *args)

    def _socket_open(self, client, userdata, sock) -> None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, AttributeError):
            pass
        self._sock = sock
        self._on_loop(self.loop.add_reader, sock, self._read)

    def _socket_close(self, client, userdata, sock) -> None:
        self._sock = None
        self._on_loop(self._forget, sock)

    def _forget(self, sock) -> None:
        try:
            self.loop.remove_reader(sock)
            self.loop.remove_writer(sock)
        except (ValueError, OSError):  # already closed: the loop dropped it with its descriptor
            pass

    def _register_write(self, client, userdata, sock) -> None:
        self._on_loop(self.loop.add_writer, sock, self._write)

    def _unregister_write(self, client, userdata, sock) -> None:
        self._on_loop(self.loop.remove_writer, sock)

    def _read(self) -> None:
        self.client.loop_read()

    def _write(self) -> None:
        self.client.loop_write()

    # --- session --------------------------------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason, properties) -> None:
        if reason.is_failure:
            log.warning("mqtt: connect refused: %s", reason)
            return
        self.connected.set()
        if self._user_connect:
            self._user_connect()

    def _on_disconnect(self, client, userdata, flags, reason, properties) -> None:
        self.connected.clear()
        if not self._closing:
            log.warning("mqtt: disconnected (%s); reconnecting", reason)

    def _on_message(self, client, userdata, message) -> None:
        if self._user_message:
            self._user_message(message)

    async def start(self, wait: float = 10.0) -> None:
        await self._connect()
        self._housekeeping = self.loop.create_task(self._keep())
        try:
            await asyncio.wait_for(self.connected.wait(), wait)
        except asyncio.TimeoutError:
            log.warning("mqtt: no CONNACK from %s:%s within %ss; still trying", self.address.host, self.address.port, wait)

    async def _connect(self) -> bool:
        try:  # the TCP connect blocks: off the loop
            await self.loop.run_in_executor(None, self.client.connect, self.address.host, self.address.port, 30)
            return True
        except OSError as exc:
            log.warning("mqtt: cannot reach %s:%s (%s)", self.address.host, self.address.port, exc)
            return False

    async def _keep(self) -> None:
        delay = 1.0
        while not self._closing:
            await asyncio.sleep(1.0)
            rc = self.client.loop_misc()  # keepalive pings, retries of unacknowledged QoS 1 packets
            if rc == mqtt.MQTT_ERR_SUCCESS and self.client.is_connected():
                delay = 1.0
                continue
            if self._closing:
                return
            if self._sock is not None:
                self._forget(self._sock)
                self._sock = None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
            try:
                await self.loop.run_in_executor(None, self.client.reconnect)
            except OSError as exc:
                log.warning("mqtt: reconnect failed (%s)", exc)

    def publish(self, topic: str, payload: str | bytes) -> None:
        """QoS 1, fire and forget: paho keeps it until the broker's PUBACK (and resends on reconnect)."""
        self.client.publish(topic, payload, qos=1)

    def subscribe(self, topic: str, no_local: bool = True) -> None:
        """QoS 1, never the retained copy; no-local unless a shared subscription (MQTT 5 forbids it there)."""
        options = mqtt.SubscribeOptions(qos=1, noLocal=no_local, retainHandling=mqtt.SubscribeOptions.RETAIN_DO_NOT_SEND)
        self.client.subscribe(topic, options=options)

    def unsubscribe(self, topic: str) -> None:
        self.client.unsubscribe(topic)

    async def stop(self) -> None:
        self._closing = True
        if self._housekeeping:
            self._housekeeping.cancel()
        try:
            self.client.disconnect()
            self.client.loop_write()
        except Exception:  # already gone
            pass
        if self._sock is not None:
            self._forget(self._sock)
