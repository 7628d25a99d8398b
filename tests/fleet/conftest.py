"""Fleet fixtures: the chargers' ingest and simulator, and real Celery worker/beat/relay processes on a queue of their own."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.chargers.conftest import fleet, ingest, wait_for  # noqa: F401  (fixtures shared with the chargers tests)

ROOT = Path(__file__).resolve().parent.parent.parent


class CeleryProcesses:
    """`celery -A celery_app worker|beat` and `flask outbox-relay` as separate processes on this test's database
    and a private queue, so a test can stop and start them like a supervisor would.

    The relay is this test's own: the outbox rows the ingest writes here (a campaign's hand-over) must reach
    these processes, configured like the deployment, and not a worker of the test session with other settings
    (another PUBLIC_BASE_URL signs firmware links no charger can download)."""

    def __init__(self, app, live_server, tmp_path):
        self.queue = f"fleet-{uuid.uuid4().hex[:8]}"
        self.tmp = tmp_path
        cfg = app.config
        self.env = {
            **os.environ,
            "DATABASE_URL": str(cfg["SQLALCHEMY_DATABASE_URI"]),
            "CHARGEOPS_VAR_DIR": str(cfg["VAR_DIR"]),
            "UPLOAD_DIR": str(cfg["UPLOAD_DIR"]),
            "SECRET_KEY": cfg["SECRET_KEY"],
            "PUBLIC_BASE_URL": live_server.url,
            "MQTT_TOPIC_PREFIX": cfg["MQTT_TOPIC_PREFIX"],
            "CELERY_QUEUE": self.queue,
            "CELERY_BROKER_URL": cfg["CELERY"]["broker_url"],
            "CELERY_RESULT_BACKEND": cfg["CELERY"]["result_backend"],
            "FIRMWARE_BEAT_SECONDS": "1",
            # a busy test machine can take longer than 30 s to carry a result: not what these tests are about
            "CHARGER_COMMAND_TIMEOUT": "300",
        }
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, kind: str) -> None:
        celery = [sys.executable, "-m", "celery", "-A", "celery_app"]
        command = {"worker": [*celery, "worker", "--pool", "threads", "-c", "2", "--loglevel", "INFO",
                              "-n", f"{self.queue}-{uuid.uuid4().hex[:4]}@%h"],
                   "beat": [*celery, "beat", "-s", str(self.tmp / "beat-schedule"), "--loglevel", "INFO"],
                   "relay": [sys.executable, "-m", "flask", "--app", "app:create_app", "outbox-relay"]}[kind]
        log = open(self.tmp / f"{kind}.log", "ab")
        self.procs[kind] = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def stop(self, kind: str) -> None:
        proc = self.procs.pop(kind, None)
        if proc is None:
            return
        proc.send_signal(signal.SIGTERM)  # warm shutdown, as a supervisor's stop
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def log(self, kind: str) -> str:
        return (self.tmp / f"{kind}.log").read_text(errors="replace")[-4000:]


@pytest.fixture
def celery_processes(app, live_server, tmp_path, session_relay_paused):
    processes = CeleryProcesses(app, live_server, tmp_path)
    processes.start("relay")
    yield processes
    for kind in list(processes.procs):
        processes.stop(kind)
    # leave nothing queued behind for another run
    with app.extensions["celery"].connection_for_write() as conn:
        conn.default_channel.client.delete(processes.queue)
