"""Fault-test helpers: a PRIVATE redis-server the test stops and starts, a real `celery -A celery_app worker`
subprocess on it, and a relay in this process handing the outbox to it. The shared Redis is never touched."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from celery import Celery

ROOT = Path(__file__).resolve().parent.parent
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def poll(check, timeout: float = 60.0, interval: float = 0.1, what: str = "condition"):
    """check() until truthy, within a generous deadline (the machine is busy)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


class PrivateRedis:
    """redis-server on a port of its own, no persistence: stop() loses nothing we care about (the outbox
    is in the database), start() brings it back on the same port."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = None

    def start(self) -> "PrivateRedis":
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        poll(self.up, timeout=20, interval=0.05, what="private redis-server to start")
        return self

    def up(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(20)


def celery_for(app, broker_url: str, queue: str) -> Celery:
    """A Celery client app (publishing only) with the app's settings, on the private broker and queue."""
    client = Celery(f"relay-{queue}", set_as_current=False)  # the tests' own tasks keep going to the shared worker
    client.config_from_object({**app.config["CELERY"], "broker_url": broker_url, "result_backend": broker_url,
                               "task_default_queue": queue})
    return client


class Worker:
    """`celery -A celery_app worker` in a process of its own on the private broker (threads pool, one slot,
    so SIGKILL takes the task in flight with it). env: extra settings (config.py reads them all)."""

    def __init__(self, app, broker_url: str, queue: str, log_dir: Path, env: dict | None = None, name: str = "w"):
        self.log = log_dir / f"worker-{name}-{uuid.uuid4().hex[:6]}.log"
        self.env = {
            **os.environ,
            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": broker_url, "CELERY_BROKER_URL": broker_url, "CELERY_RESULT_BACKEND": broker_url,
            "CELERY_QUEUE": queue, "CHARGEOPS_VAR_DIR": str(log_dir),
            "MQTT_TOPIC_PREFIX": app.config["MQTT_TOPIC_PREFIX"], "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.name, self.queue, self.proc = name, queue, None

    def start(self) -> "Worker":
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "celery_app", "worker", "--pool", "threads", "--concurrency", "1",
             "-Q", self.queue, "-n", f"{self.name}-{uuid.uuid4().hex[:6]}@%h", "--loglevel", "INFO",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=self.env, stdout=open(self.log, "w"), stderr=subprocess.STDOUT,
        )
        poll(lambda: "ready." in self.output() or self.proc.poll() is not None, timeout=120, what="worker ready")
        assert self.proc.poll() is None, self.output()[-3000:]
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no warm shutdown, no ack, no goodbye (an OOM kill, a pulled plug)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(20)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
