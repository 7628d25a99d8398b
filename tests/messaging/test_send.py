"""The one send service: WhatsApp through the real twilio SDK against a local stand-in of Twilio's
REST API, e-mail through a real SMTP peer, idempotency keys, retries, and the 24-hour rule."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs

import pytest
from sqlalchemy import func, select

from app.models.base import utcnow
from app.models.messaging import Message
from app.services import Conflict, InvalidInput
from app.services.messaging import window_is_open
from app.services.messaging_outbound import send_whatsapp
from tests.messaging.conftest import (
    MESSAGES_PATH, create_requests, new_sid, post_signed, receive, twilio_message, wait_for,
)


def _form(request) -> dict:
    return {k: v[0] for k, v in parse_qs(request.get_data(as_text=True)).items()}


def test_api_reply_inside_the_window_is_sent_once_per_idempotency_key(client, session, api_as, twilio, customer, celery_worker):
    receive(client, "Is the Galle charger working?")
    sid = new_sid()
    twilio.expect_request(MESSAGES_PATH, method="POST").respond_with_json(twilio_message(sid), status=201)
    agent = api_as("agent")
    body = {"customer_id": customer.id, "body": "Yes, it is available now.", "idempotency_key": "reply-1"}
    first = agent.post("/api/v1/messages/", json=body)
    assert first.status_code == 201, first.json
    assert first.json["status"] in ("pending", "sending", "queued")
    again = agent.post("/api/v1/messages/", json=body)
    assert again.status_code == 200 and again.json["id"] == first.json["id"]
    message = wait_for(session, lambda: session.scalar(select(Message).where(Message.provider_sid == sid)), what="send")
    assert message.status == "queued" and message.attempts == 1 and message.conversation_id is not None
    sent = create_requests(twilio)
    assert len(sent) == 1
    form = _form(sent[0])
    assert form["To"] == "whatsapp:+94771234567" and form["From"] == "whatsapp:+94110000000"
    assert form["Body"] == "Yes, it is available now."
    assert form["StatusCallback"] == "https://ops.chargeops.test/webhooks/twilio/status"
    assert sent[0].headers["Authorization"].startswith("Basic ")
    # a redelivered task after the successful send does not call Twilio again
    from app.tasks.messaging import send_message_task

    assert send_message_task.delay(message.id).get(timeout=30)["provider_sid"] == sid
    assert len(create_requests(twilio)) == 1
    # Twilio's callback (signed like Twilio signs it) marks it delivered
    assert post_signed(client, "/webhooks/twilio/status", {"MessageSid": sid, "MessageStatus": "delivered"}).status_code == 200
    assert agent.get(f"/api/v1/messages/{message.id}").json["result"]["status"] == "delivered"


def test_free_text_outside_the_window_is_refused_with_409(client, session, api_as, twilio, customer):
    agent = api_as("agent")
    response = agent.post("/api/v1/messages/", json={"to": "077 123 4567", "body": "Hi", "idempotency_key": "x1"})
    assert response.status_code == 409 and "template" in response.json["message"]
    assert session.scalar(select(func.count()).select_from(Message)) == 0
    # a message older than 24 hours does not open the window either
    receive(client, "old message")
    session.execute(Message.__table__.update().values(created_at=utcnow() - timedelta(hours=25)))
    session.commit()
    assert not window_is_open(session, "+94771234567")
    assert agent.post("/api/v1/messages/", json={"to": "+94771234567", "body": "Hi", "idempotency_key": "x2"}).status_code == 409


def test_templates_are_allowed_outside_the_window(session, api_as, twilio, customer, templates, celery_worker):
    sid = new_sid()
    twilio.expect_request(MESSAGES_PATH, method="POST").respond_with_json(twilio_message(sid), status=201)
    agent = api_as("agent")
    missing = agent.post("/api/v1/messages/", json={
        "customer_id": customer.id, "template": "installation_update", "variables": {"name": "Sunil"}, "idempotency_key": "t0"})
    assert missing.status_code == 400 and "update" in missing.json["message"]
    unknown = agent.post("/api/v1/messages/", json={"customer_id": customer.id, "template": "nope", "idempotency_key": "t1"})
    assert unknown.status_code == 404
    ok = agent.post("/api/v1/messages/", json={
        "customer_id": customer.id, "template": "installation_update",
        "variables": {"name": "Sunil", "update": "the survey is on Monday"}, "idempotency_key": "t2"})
    assert ok.status_code == 201, ok.json
    assert ok.json["body"] == "Hello Sunil, an update on your charger installation: the survey is on Monday"
    wait_for(session, lambda: session.scalar(select(Message).where(Message.provider_sid == sid)), what="template send")
    assert _form(create_requests(twilio)[0])["Body"].startswith("Hello Sunil")


def test_provider_failure_is_retried_and_sends_exactly_once(client, session, twilio, customer, celery_worker):
    receive(client, "hello")
    sid = new_sid()
    twilio.expect_oneshot_request(MESSAGES_PATH, method="POST").respond_with_json(
        {"code": 20500, "message": "Internal Server Error", "status": 500}, status=500)
    twilio.expect_request(MESSAGES_PATH, method="POST").respond_with_json(twilio_message(sid), status=201)
    message = send_whatsapp(session, to=customer.phone, body="We are on it", idempotency_key="retry-1", customer_id=customer.id)
    session.commit()
    message_id = message.id
    done = wait_for(session, lambda: session.scalar(select(Message).where(Message.id == message_id, Message.provider_sid.is_not(None))),
                    timeout=30, what="retried send")
    assert done.provider_sid == sid and done.status == "queued" and done.attempts == 2
    calls = create_requests(twilio)
    assert len(calls) == 2  # one failure, one success, and nothing after it
    assert [resp.status_code for req, resp in twilio.log if req.path == MESSAGES_PATH] == [500, 201]


def test_a_permanent_refusal_fails_the_message_without_retrying(client, session, twilio, customer, celery_worker):
    receive(client, "hello")
    twilio.expect_request(MESSAGES_PATH, method="POST").respond_with_json(
        {"code": 21211, "message": "The 'To' number is not a valid phone number.", "status": 400}, status=400)
    message = send_whatsapp(session, to=customer.phone, body="Hi", idempotency_key="perm-1", customer_id=customer.id)
    session.commit()
    message_id = message.id
    failed = wait_for(session, lambda: session.scalar(select(Message).where(Message.id == message_id, Message.status == "failed")),
                      what="failure")
    assert failed.error_code == "21211" and failed.attempts == 1
    assert len(create_requests(twilio)) == 1


def test_send_service_validates_input(session, customer):
    with pytest.raises(InvalidInput):
        send_whatsapp(session, to="not a phone", body="x", idempotency_key="v1")
    with pytest.raises(InvalidInput):
        send_whatsapp(session, to=customer.phone, idempotency_key="v2")
    with pytest.raises(InvalidInput):
        send_whatsapp(session, to=customer.phone, body="x", idempotency_key="")
    with pytest.raises(Conflict):
        send_whatsapp(session, to=customer.phone, body="x", idempotency_key="v3")


def test_email_goes_through_a_real_smtp_server_once(app, session, api_as, celery_worker):
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message as MessageHandler

    received = []

    class Collect(MessageHandler):
        def handle_message(self, message):
            received.append(message)

    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Collect(), hostname="127.0.0.1", port=port)
    controller.start()
    saved = app.config["SMTP_URL"]
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
    try:
        manager = api_as("manager")
        body = {"channel": "email", "to": "owner@example.com", "subject": "Your charger", "body": "Installed today.",
                "idempotency_key": "mail-1"}
        first = manager.post("/api/v1/messages/", json=body)
        assert first.status_code == 201, first.json
        assert manager.post("/api/v1/messages/", json=body).status_code == 200
        wait_for(session, lambda: session.scalar(select(Message).where(Message.status == "sent")), what="e-mail")
        from app.tasks.messaging import send_message_task

        send_message_task.delay(first.json["id"]).get(timeout=30)  # a redelivery sends nothing
        assert len(received) == 1
        assert received[0]["To"] == "owner@example.com" and received[0]["Subject"] == "Your charger"
        assert "Installed today." in received[0].get_payload()
        bad = manager.post("/api/v1/messages/", json={**body, "to": "nobody", "idempotency_key": "mail-2"})
        assert bad.status_code == 400
    finally:
        app.config["SMTP_URL"] = saved
        controller.stop()


def test_sweep_requeues_unsent_messages_and_flags_sends_stuck_mid_call(client, session, twilio, customer, templates, celery_worker):
    from app.services.messaging_outbound import sweep_outbox

    sid = new_sid()
    twilio.expect_request(MESSAGES_PATH, method="POST").respond_with_json(twilio_message(sid), status=201)
    old = utcnow() - timedelta(minutes=20)
    for key, status in (("lost-in-broker", "pending"), ("died-mid-call", "sending")):
        session.add(Message(channel="whatsapp", direction="outbound", to_addr=customer.phone, body="x",
                            idempotency_key=key, status=status, created_at=old, attempts=0))
    session.commit()
    assert sweep_outbox(session) == {"requeued": 1, "stuck": 1}
    sent = wait_for(session, lambda: session.scalar(select(Message).where(Message.provider_sid == sid)), what="requeued send")
    assert sent.idempotency_key == "lost-in-broker"
    stuck = session.scalar(select(Message).where(Message.idempotency_key == "died-mid-call"))
    assert stuck.status == "failed" and "check the provider" in stuck.error_message
    assert len(create_requests(twilio)) == 1


def test_a_template_with_a_content_sid_goes_out_as_twilio_content(session, twilio, customer, templates, celery_worker):
    import json

    from app.models.messaging import MessageTemplate

    template = session.scalar(select(MessageTemplate).where(MessageTemplate.code == "appointment_confirmation"))
    template.content_sid = "HX" + "a" * 32
    session.commit()
    sid = new_sid()
    twilio.expect_request(MESSAGES_PATH, method="POST").respond_with_json(twilio_message(sid), status=201)
    send_whatsapp(session, to=customer.phone, template="appointment_confirmation", customer_id=customer.id,
                  variables={"name": "Sunil", "visit": "site survey", "date": "Mon 24 Nov, 10:00"}, idempotency_key="cs-1")
    session.commit()
    wait_for(session, lambda: session.scalar(select(Message).where(Message.provider_sid == sid)), what="content send")
    form = _form(create_requests(twilio)[0])
    assert form["ContentSid"] == "HX" + "a" * 32 and "Body" not in form
    assert json.loads(form["ContentVariables"]) == {"1": "Sunil", "2": "site survey", "3": "Mon 24 Nov, 10:00"}
