"""Commands never go out late: a command sent while the broker is away (longer than its timeout) is never
shown Sent, ends Timeout, and the charger never receives it when the broker comes back.

A PRIVATE mosquitto the test stops and starts; the simulated charger (chargers_simulator.Fleet) on it."""
from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.integrations import mqtt as mqtt_integration
from app.models.base import utcnow
from app.models.chargers import Charger, ChargerCommand
from tests.chargers.test_broker_restart import PrivateBroker
from tests.faults import poll

TIMEOUT_S = 3


@pytest.fixture
def private_broker(app):
    broker = PrivateBroker()
    broker.start()
    saved = app.config["MQTT_URL"], app.config["CHARGER_COMMAND_TIMEOUT"]
    app.config["MQTT_URL"], app.config["CHARGER_COMMAND_TIMEOUT"] = f"mqtt://127.0.0.1:{broker.port}", TIMEOUT_S
    yield broker
    app.config["MQTT_URL"], app.config["CHARGER_COMMAND_TIMEOUT"] = saved
    publisher = mqtt_integration._publishers.pop(f"mqtt://127.0.0.1:{broker.port}", None)
    if publisher is not None:
        publisher.close()
    broker.stop()
    broker.remove()


def _status(session, command_id):
    session.rollback()
    return session.scalar(select(ChargerCommand.status).where(ChargerCommand.command_id == command_id))


def test_a_command_sent_during_a_broker_outage_times_out_and_never_reaches_the_charger(
        app, session, api_as, fleet, celery_worker, private_broker):
    session.add(Charger(cid="DL-1", name="Charger DL-1", type="L2", heartbeat_interval=60, offline=False,
                        last_seen=utcnow(), offline_after=utcnow() + timedelta(minutes=10)))
    session.commit()
    charger = fleet(["DL-1"], answer="silent")
    api = api_as("cpo")
    url = app.config["MQTT_URL"]

    before = api.post("/api/v1/chargers/DL-1/commands", json={"action": "Reset", "payload": {"type": "Soft"}}).json
    assert before["status"] == "Sent"
    poll(lambda: any(c["command_id"] == before["command_id"] for c in charger.commands_seen), what="the first command")
    poll(lambda: _status(session, before["command_id"]) == "Timeout", what="the first command's time-out")

    private_broker.stop()
    charger.ready.clear()
    poll(lambda: not mqtt_integration.shared_publisher(url).connected.is_set(), what="the publisher to notice")
    during = api.post("/api/v1/chargers/DL-1/commands", json={"action": "Reset", "payload": {"type": "Hard"}})
    assert during.status_code == 202
    assert during.json["status"] == "Pending"  # not delivered; never shown "Sent"
    command_id = during.json["command_id"]
    poll(lambda: _status(session, command_id) == "Timeout", what="the time-out while the broker is down")
    command = session.scalar(select(ChargerCommand).where(ChargerCommand.command_id == command_id))
    assert command.sent_at is None
    shown = api.get(f"/api/v1/commands/{command_id}").json
    assert shown["status"] == "Timeout" and shown["delivered"] is False

    private_broker.start()  # down for longer than the command's timeout
    poll(charger.ready.is_set, timeout=120, what="the charger to reconnect")
    poll(lambda: mqtt_integration.shared_publisher(url).connected.is_set(), timeout=60, what="the publisher to reconnect")
    after = api.post("/api/v1/chargers/DL-1/commands", json={"action": "TriggerMessage", "payload": {"requestedMessage": "Heartbeat"}}).json
    assert after["status"] == "Sent"
    poll(lambda: any(c["command_id"] == after["command_id"] for c in charger.commands_seen), what="the command after the outage")
    assert command_id not in {c["command_id"] for c in charger.commands_seen}
    assert _status(session, command_id) == "Timeout"


def test_a_command_to_an_offline_charger_is_refused_at_once(session, api_as):
    session.add(Charger(cid="DL-OFF", name="Charger DL-OFF", type="L2", heartbeat_interval=60,
                        last_seen=utcnow() - timedelta(hours=1), offline_after=utcnow() - timedelta(minutes=55)))
    session.commit()
    refused = api_as("cpo").post("/api/v1/chargers/DL-OFF/commands", json={"action": "Reset", "payload": {"type": "Soft"}})
    assert refused.status_code == 409 and "Offline" in refused.json["message"]
    assert session.scalar(select(ChargerCommand)) is None


def test_the_broker_drops_a_command_whose_time_is_up_before_the_charger_comes_back(
        app, session, api_as, fleet, celery_worker, private_broker):
    """The charger's link drops (its session stays on the broker, which queues commands for it): a
    command published meanwhile carries the MQTT 5 message expiry of what was left of its timeout, so
    a charger back after that never gets it."""
    session.add(Charger(cid="DL-2", name="Charger DL-2", type="L2", heartbeat_interval=60, offline=False,
                        last_seen=utcnow(), offline_after=utcnow() + timedelta(minutes=10)))
    session.commit()
    client_id = f"charger-DL-2-{uuid.uuid4().hex[:6]}"
    away = fleet(["DL-2"], answer="silent", client_id=client_id, session_expiry=300)
    away.stop()  # gone; the broker keeps its subscription
    api = api_as("cpo")
    late = api.post("/api/v1/chargers/DL-2/commands", json={"action": "Reset", "payload": {"type": "Hard"}}).json
    assert late["status"] == "Sent"  # the broker has it, queued for the charger
    poll(lambda: _status(session, late["command_id"]) == "Timeout", what="the time-out")
    time.sleep(1.5)  # past the expiry interval, which counts whole seconds
    back = fleet(["DL-2"], answer="silent", client_id=client_id, session_expiry=300)
    app.config["CHARGER_COMMAND_TIMEOUT"] = 120
    after = api.post("/api/v1/chargers/DL-2/commands", json={"action": "UnlockConnector", "payload": {"connectorId": 1}}).json
    assert after["status"] == "Sent"
    # the broker delivers a session's queued messages before newer ones: once this one is in, the late one is not coming
    poll(lambda: any(c["command_id"] == after["command_id"] for c in back.commands_seen), what="the next command")
    assert late["command_id"] not in {c["command_id"] for c in back.commands_seen}
