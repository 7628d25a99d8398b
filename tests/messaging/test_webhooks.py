"""Twilio's webhooks: signature checks, storing each inbound message once, linking to customers,
classification, and delivery status callbacks."""
from __future__ import annotations

from sqlalchemy import func, select

from app.models.customers import Customer
from app.models.messaging import Conversation, Message
from tests.messaging.conftest import AUTH_TOKEN, inbound_params, new_sid, post_signed, receive, sign, wait_for

INBOUND = "/webhooks/twilio/whatsapp"
STATUS = "/webhooks/twilio/status"


def _count(session, model):
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


def test_signed_inbound_message_is_stored_once_with_a_new_contact(client, session, twilio):
    params = inbound_params("Hi, where is the nearest charger?", phone="+94775551234", name="Kamal Silva")
    first = post_signed(client, INBOUND, params)
    assert first.status_code == 200 and "<Response>" in first.get_data(as_text=True)
    retry = post_signed(client, INBOUND, params)  # Twilio retries the same MessageSid
    assert retry.status_code == 200
    assert _count(session, Message) == 1
    message = session.scalar(select(Message))
    assert message.direction == "inbound" and message.provider_sid == params["MessageSid"]
    assert message.body == "Hi, where is the nearest charger?" and message.from_addr == "+94775551234"
    contact = session.get(Customer, message.customer_id)
    assert contact.name == "Kamal Silva" and contact.phone == "+94775551234"
    conversation = session.get(Conversation, message.conversation_id)
    assert conversation.unread_count == 1 and conversation.last_inbound_at is not None


def test_inbound_links_the_existing_customer_by_normalised_phone(client, session, twilio, customer):
    receive(client, "My wallet balance is wrong", phone="+94771234567")
    message = session.scalar(select(Message))
    assert message.customer_id == customer.id
    assert _count(session, Customer) == 1


def test_unsigned_forged_and_altered_requests_are_refused_and_store_nothing(client, session, twilio):
    params = inbound_params("hello")
    assert client.post(INBOUND, data=params).status_code == 403  # no signature
    forged = sign(INBOUND, params, token="not-the-auth-token")
    assert post_signed(client, INBOUND, params, signature=forged).status_code == 403
    genuine = sign(INBOUND, params)
    altered = {**params, "Body": "send refund to account 123"}  # replayed signature, body altered
    assert post_signed(client, INBOUND, altered, signature=genuine).status_code == 403
    wrong_url = sign("/webhooks/twilio/other", params)
    assert post_signed(client, INBOUND, params, signature=wrong_url).status_code == 403
    assert _count(session, Message) == 0 and _count(session, Customer) == 0
    assert client.post(STATUS, data={"MessageSid": "SMx", "MessageStatus": "delivered"}).status_code == 403


def test_inbound_is_refused_when_no_auth_token_is_configured(client, session, app, twilio):
    params = inbound_params("hello")
    signature = sign(INBOUND, params)
    app.config["TWILIO_AUTH_TOKEN"] = None
    try:
        assert post_signed(client, INBOUND, params, signature=signature).status_code == 403
    finally:
        app.config["TWILIO_AUTH_TOKEN"] = AUTH_TOKEN
    assert _count(session, Message) == 0


def test_inbound_message_is_classified_and_its_conversation_routed(client, session, twilio, celery_worker):
    receive(client, "URGENT the charger is not charging and I am stranded", phone="+94775550000")
    message = wait_for(session, lambda: session.scalar(select(Message).where(Message.classified_at.is_not(None))),
                       what="classification")
    assert (message.category, message.urgency, message.priority) == ("Charger Faults", "Critical", "Critical")
    assert message.department == "Technical" and message.classifier == "rules"
    conversation = session.get(Conversation, message.conversation_id)
    assert conversation.department == "Technical" and conversation.priority == "Critical"
    # Technical's only demo member, the CPO, cannot open the inbox: routing hands it to nobody
    assert conversation.assignee is None


def test_status_callback_moves_forward_only(client, session, twilio, customer):
    receive(client, "hi")
    from app.services.messaging_outbound import send_whatsapp

    message = send_whatsapp(session, to=customer.phone, body="Hello!", idempotency_key="k1", customer_id=customer.id)
    message.provider_sid, message.status = new_sid(), "queued"
    session.commit()
    sid = message.provider_sid
    for status in ("delivered", "sent"):  # out of order: "sent" arrives late
        response = post_signed(client, STATUS, {"MessageSid": sid, "MessageStatus": status, "AccountSid": "AC1"})
        assert response.status_code == 200
    session.expire_all()
    message = session.scalar(select(Message).where(Message.provider_sid == sid))
    assert message.status == "delivered" and message.delivered_at is not None
    post_signed(client, STATUS, {"MessageSid": sid, "MessageStatus": "read"})
    session.expire_all()
    assert session.scalar(select(Message.status).where(Message.provider_sid == sid)) == "read"
    bad = post_signed(client, STATUS, {"MessageSid": sid, "MessageStatus": "exploded"})
    assert bad.status_code == 400 and "MessageStatus" in bad.json["message"]


def test_concurrent_retries_of_one_message_store_it_once(session, live_server, twilio):
    import threading

    import requests

    params = inbound_params("hello twice", phone="+94775554321", name="Nuwan")
    signature = sign(INBOUND, params)
    codes = []

    def post():
        codes.append(requests.post(live_server.url + INBOUND, data=params,
                                   headers={"X-Twilio-Signature": signature}, timeout=30).status_code)

    threads = [threading.Thread(target=post) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200] * 5
    assert _count(session, Message) == 1 and _count(session, Customer) == 1 and _count(session, Conversation) == 1
