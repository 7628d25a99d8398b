"""Broker restart with nothing lost: a PRIVATE mosquitto (the shared one stays untouched)."""
from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
import tempfile
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.integrations.mqtt import make_client
from app.models.chargers import ChargerMessage
from app.services.chargers_ingest import Ingestor
from tests.chargers.conftest import wait_for

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateBroker:
    def __init__(self):
        # mosquitto started as root drops to its own user: a world-writable dir outside pytest's 0700 tree
        tmp_path = Path(tempfile.mkdtemp(prefix="chargers-mosquitto-"))
        tmp_path.chmod(0o777)
        self.dir = tmp_path
        self.port = _free_port()
        self.conf = tmp_path / "mosquitto.conf"
        (tmp_path / "data").mkdir()
        (tmp_path / "data").chmod(0o777)
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {tmp_path / 'data'}/\nautosave_interval 1\nmax_queued_messages 100000\n"
        )
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("private mosquitto did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # saves its persistence file, like a service restart
            self.proc.wait(10)

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def _publish(url, port, prefix, first, count):
    client, _ = make_client(url)
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = [
        client.publish(f"{prefix}/chargers/RS-{i % 10}/ocpp/Heartbeat",
                       f'{{"ts": "2026-11-21T08:15:00Z", "msg_id": "hb-{i}", "payload": {{}}}}', qos=1)
        for i in range(first, first + count)
    ]
    for info in infos:
        info.wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


@pytest.mark.parametrize("shared", [True, False], ids=["shared-subscription", "plain-subscription"])
def test_ingest_survives_a_broker_restart_and_loses_nothing(app, session, shared):
    broker = PrivateBroker()
    broker.start()
    url = f"mqtt://127.0.0.1:{broker.port}"
    prefix = app.config["MQTT_TOPIC_PREFIX"]
    ingestor = Ingestor(app, client_id=f"ingest-restart-{uuid.uuid4().hex[:6]}", url=url, session_expiry=600,
                        batch_ms=20, shared=shared)
    ingestor.start()
    count = lambda: session.scalar(select(func.count()).select_from(ChargerMessage).where(ChargerMessage.dedup_key.is_not(None)))
    try:
        assert ingestor.subscribed.is_set()
        _publish(url, broker.port, prefix, 0, 300)  # while ingest is connected...
        broker.stop()  # ...and the broker goes down while some are still in flight (unacked) to ingest
        assert wait_for(session, lambda: not ingestor.connected.is_set(), timeout=5)
        broker.start()
        if shared:  # Mosquitto restores no shared subscription: publish once ingest has resubscribed
            assert wait_for(session, lambda: ingestor.subscribed.is_set(), timeout=15)
        _publish(url, broker.port, prefix, 300, 200)  # plain: queued for ingest's persistent session until it is back
        assert wait_for(session, lambda: count() == 500, timeout=30), (count(), ingestor.stats)
        assert ingestor.stats["connects"] >= 2
        _publish(url, broker.port, prefix, 500, 100)  # after the reconnect: still subscribed
        assert wait_for(session, lambda: count() == 600, timeout=20), count()
        assert ingestor.stats["errors"] == 0
    finally:
        ingestor.stop(discard_session=True)
        broker.stop()
        broker.remove()
