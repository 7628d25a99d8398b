"""Redis goes away and comes back: writes still answer at once, and every send queued meanwhile
reaches Twilio exactly once a few seconds after Redis is back, with no beat running.

A PRIVATE redis-server (stopped and started by the test), a real `celery -A celery_app worker` process on
it, the outbox relay in this process, and the local Twilio stand-in."""
from __future__ import annotations

import threading
import uuid
from collections import Counter
from urllib.parse import parse_qs

import pytest
from sqlalchemy import func, select

from app.models.messaging import Message
from app.models.outbox import OutboxMessage
from app.services.outbox import OutboxRelay
from tests.faults import PrivateRedis, Worker, celery_for, poll
from tests.messaging.conftest import ACCOUNT_SID, AUTH_TOKEN, FROM, PUBLIC, answer_each_send, create_requests, receive


def _bodies(httpserver) -> Counter:
    return Counter(parse_qs(r.get_data(as_text=True))["Body"][0] for r in create_requests(httpserver))


def _post_within(agent, body: dict, timeout: float = 30.0):
    """The request in a thread: it must come back (not hang on Redis) within a generous deadline."""
    answer = {}
    thread = threading.Thread(target=lambda: answer.update(r=agent.post("/api/v1/messages/", json=body)))
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "the request waited on Redis"
    return answer["r"]


@pytest.fixture
def private_stack(app, twilio, tmp_path, session_relay_paused):
    redis = PrivateRedis().start()
    queue = f"outage-{uuid.uuid4().hex[:8]}"
    worker = Worker(app, redis.url, queue, tmp_path, env={
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_WHATSAPP_FROM": FROM,
        "TWILIO_API_BASE_URL": twilio.url_for("/").rstrip("/"), "PUBLIC_BASE_URL": PUBLIC,
    }).start()
    relay = OutboxRelay(app, celery_for(app, redis.url, queue)).start()
    yield redis, worker
    relay.stop()
    worker.stop()
    redis.stop()


def test_sends_queued_while_redis_is_down_go_out_once_when_it_is_back(client, session, api_as, twilio, customer, private_stack):
    redis, worker = private_stack
    answer_each_send(twilio)
    receive(client, "Is the Kandy charger free?")  # opens the 24-hour window
    agent = api_as("agent")

    first = _post_within(agent, {"customer_id": customer.id, "body": "before the outage", "idempotency_key": "o-0"})
    assert first.status_code == 201, first.json
    poll(lambda: _bodies(twilio)["before the outage"] == 1, timeout=60, what="the first send")

    redis.stop()
    for n in range(1, 4):
        response = _post_within(agent, {"customer_id": customer.id, "body": f"during the outage {n}", "idempotency_key": f"o-{n}"})
        assert response.status_code == 201, response.json
        assert not redis.up()  # answered while Redis was down
    session.rollback()
    waiting = session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.task == "messaging.send_message", OutboxMessage.sent_at.is_(None)))
    assert waiting == 3  # each one kept in the database, none lost
    assert sum(_bodies(twilio).values()) == 1

    redis.start()  # no beat anywhere: the relay and the worker catch up on their own
    poll(lambda: all(_bodies(twilio)[f"during the outage {n}"] for n in range(1, 4)), timeout=120,
         what="the sends queued during the outage")

    def all_recorded():
        session.rollback()
        return session.scalar(select(func.count()).select_from(Message).where(
            Message.direction == "outbound", Message.provider_sid.is_not(None))) == 4

    poll(all_recorded, timeout=60, what="every send recorded with its SID")
    assert _bodies(twilio) == Counter({"before the outage": 1, **{f"during the outage {n}": 1 for n in range(1, 4)}})
    session.rollback()
    assert session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.sent_at.is_(None))) == 0
    assert worker.proc.poll() is None
