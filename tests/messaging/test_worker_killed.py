"""A worker SIGKILLed while a WhatsApp send is in flight at Twilio: once another worker has picked up
the redelivered task, Twilio has received that message exactly once (and the one queued behind it once).

Real processes: a private redis-server, `celery -A celery_app worker` killed with SIGKILL while the local
Twilio stand-in holds its request, then a second worker; the outbox relay runs in this process."""
from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from werkzeug import Response

from app.models.messaging import Message
from app.models.outbox import OutboxMessage
from app.services.outbox import OutboxRelay
from tests.faults import PrivateRedis, Worker, celery_for, poll
from tests.messaging.conftest import ACCOUNT_SID, AUTH_TOKEN, FROM, MESSAGES_PATH, PUBLIC, receive, twilio_message

VISIBILITY_S = 3  # Redis hands a dead worker's unacknowledged task to another worker after this long


class HoldingTwilio:
    """Twilio's Messages endpoint that holds the first request for `held_body` until released."""

    def __init__(self, held_body: str):
        self.server = HTTPServer(host="127.0.0.1", threaded=True)  # the held request must not block the others
        self.held_body, self.calls = held_body, Counter()
        self.holding, self.release, self.lock = threading.Event(), threading.Event(), threading.Lock()
        self.server.expect_request(MESSAGES_PATH, method="POST").respond_with_handler(self.handle)

    def handle(self, request):
        body = request.form.get("Body", "")
        with self.lock:
            self.calls[body] += 1
        if body == self.held_body:
            self.holding.set()
            self.release.wait(120)
        return Response(json.dumps(twilio_message(to=request.form.get("To", ""))), status=201, content_type="application/json")


@pytest.fixture
def stand_in():
    twilio = HoldingTwilio("in flight when the worker dies")
    twilio.server.start()
    yield twilio
    twilio.release.set()
    twilio.server.clear()
    if twilio.server.is_running():
        twilio.server.stop()


def test_a_send_in_flight_when_its_worker_is_killed_reaches_twilio_once(
        app, client, session, api_as, twilio, customer, stand_in, tmp_path, session_relay_paused):
    receive(client, "Hello, is anyone there?")  # the customer's 24-hour window is open
    redis = PrivateRedis().start()
    queue = f"killed-{uuid.uuid4().hex[:8]}"
    env = {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_WHATSAPP_FROM": FROM,
        "TWILIO_API_BASE_URL": stand_in.server.url_for("/").rstrip("/"), "PUBLIC_BASE_URL": PUBLIC,
        "MESSAGING_HTTP_TIMEOUT_S": "120", "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_S),
    }
    relay = OutboxRelay(app, celery_for(app, redis.url, queue)).start()
    first = Worker(app, redis.url, queue, tmp_path, env, name="first").start()
    second = None
    try:
        agent = api_as("agent")
        held = agent.post("/api/v1/messages/", json={
            "customer_id": customer.id, "body": "in flight when the worker dies", "idempotency_key": "k-1"}).json
        poll(stand_in.holding.is_set, timeout=120, what="the send to reach Twilio")
        behind = agent.post("/api/v1/messages/", json={
            "customer_id": customer.id, "body": "queued behind it", "idempotency_key": "k-2"}).json

        def handed_over():
            session.rollback()
            return session.scalar(select(OutboxMessage.sent_at).where(
                OutboxMessage.task == "messaging.send_message", OutboxMessage.args == json.dumps([behind["id"]])))

        poll(handed_over, timeout=60, what="the second send to be in Redis")
        killed_at = time.monotonic()
        first.kill()
        stand_in.release.set()  # Twilio answers a socket nobody reads any more
        # Redis redelivers an unacknowledged task only once it is older than the visibility timeout
        time.sleep(max(0.0, VISIBILITY_S + 1 - (time.monotonic() - killed_at)))
        second = Worker(app, redis.url, queue, tmp_path, env, name="second").start()

        def both_tasks_ran():
            lines = second.output().splitlines()
            return sum("Task messaging.send_message[" in line and " succeeded in " in line for line in lines) >= 2

        poll(both_tasks_ran, timeout=120, what="the second worker to run the redelivered and the queued send")
        assert stand_in.calls == Counter({"in flight when the worker dies": 1, "queued behind it": 1})
        session.rollback()
        in_flight = session.get(Message, held["id"])
        # it reached Twilio, but nobody heard the answer: never sent again (the messaging sweep flags it)
        assert in_flight.status == "sending" and in_flight.attempts == 1
        assert session.get(Message, behind["id"]).status == "queued"
    finally:
        relay.stop()
        first.kill()
        if second is not None:
            second.stop()
        redis.stop()
