"""Chargers fixtures: the real ingest and a simulated fleet on the real Mosquitto, this run's topic prefix."""
from __future__ import annotations

import time
import uuid

import pytest

from app.services.chargers_ingest import Ingestor
from app.services.chargers_simulator import Fleet


def wait_for(session, check, timeout: float = 30.0, interval: float = 0.05):
    """Re-read the database (new transaction each time) until check() returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        session.rollback()
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


@pytest.fixture
def ingest(app):
    """The real ingest subscriber in this process (writer thread + paho loop), unique client id."""
    ingestor = Ingestor(app, client_id=f"ingest-test-{uuid.uuid4().hex[:8]}", session_expiry=120, batch_ms=20)
    ingestor.start()
    assert ingestor.subscribed.is_set(), "ingest did not subscribe"
    yield ingestor
    ingestor.stop(discard_session=True)


@pytest.fixture
def fleet(app):
    """make_fleet(cids, answer="accept") -> a started simulated fleet (no random life: tests drive it)."""
    fleets = []

    def make(cids, answer="accept", boot=False, **kw):
        f = Fleet(app.config["MQTT_URL"], app.config["MQTT_TOPIC_PREFIX"], list(cids), answer=answer,
                  lively=False, heartbeat_interval=3600, seed=1, **kw)
        f.start(boot=boot)
        fleets.append(f)
        return f

    yield make
    for f in fleets:
        f.stop()


@pytest.fixture
def short_command_timeout(app):
    old = app.config["CHARGER_COMMAND_TIMEOUT"]
    app.config["CHARGER_COMMAND_TIMEOUT"] = 1
    yield 1
    app.config["CHARGER_COMMAND_TIMEOUT"] = old
