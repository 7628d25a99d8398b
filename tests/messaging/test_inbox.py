"""The inbox screens and the one-click conversions into Support desk requests and tickets."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from app.models.base import utcnow
from app.models.messaging import Conversation, Message
from app.models.support import CustomerRequest, Ticket
from tests.conftest import csrf_token
from tests.messaging.conftest import receive


def test_inbox_lists_conversations_newest_first_with_unread_and_window(client, session, web_as, twilio):
    receive(client, "first customer", phone="+94775550001", name="Anura")
    receive(client, "second customer", phone="+94775550002", name="Bimal")
    old = session.scalar(select(Conversation).join(Conversation.customer).where(Conversation.phone == "+94775550001"))
    session.execute(Message.__table__.update().where(Message.conversation_id == old.id)
                    .values(created_at=utcnow() - timedelta(hours=30)))
    old.last_message_at = old.last_inbound_at = utcnow() - timedelta(hours=30)
    session.commit()
    agent = web_as("agent")
    page = agent.get("/messaging/inbox/").get_data(as_text=True)
    assert page.index("Bimal") < page.index("Anura")  # newest activity first
    assert "free text" in page and "template only" in page
    unread = agent.get("/messaging/inbox/?box=unread").get_data(as_text=True)
    assert "Bimal" in unread
    conversation = agent.get(f"/messaging/conversations/{old.id}").get_data(as_text=True)
    assert "only an approved template" in conversation
    session.expire_all()
    assert session.get(Conversation, old.id).unread_count == 0  # opened: read
    assert "Anura" not in agent.get("/messaging/inbox/?box=unread").get_data(as_text=True)
    assert web_as("finance").get("/messaging/inbox/").status_code == 403


def test_reply_assign_resolve_from_the_conversation(client, session, web_as, twilio, templates):
    receive(client, "Can I pay by card at the charger?", phone="+94775550003", name="Chathura")
    conv = session.scalar(select(Conversation))
    agent = web_as("agent")
    page = agent.get(f"/messaging/conversations/{conv.id}").get_data(as_text=True)
    assert "free text is allowed" in page
    token = csrf_token(page)
    key = "form-key-1"
    for _ in range(2):  # a double submit sends once
        response = agent.post(f"/messaging/conversations/{conv.id}/reply",
                              data={"csrf_token": token, "body": "Yes, Visa and Mastercard.", "idempotency_key": key})
        assert response.status_code == 302
    replies = session.scalars(select(Message).where(Message.direction == "outbound")).all()
    assert len(replies) == 1 and replies[0].created_by.username == "agent"
    templated = agent.post(f"/messaging/conversations/{conv.id}/reply", data={
        "csrf_token": token, "template": "follow_up", "var_name": "Chathura", "var_ref": "R-1", "idempotency_key": "k2"})
    assert templated.status_code == 302
    assert session.scalar(select(Message.body).where(Message.idempotency_key == "k2")).endswith("request R-1. Reply to continue.")
    from flask_appbuilder.security.sqla.models import User

    dispatcher = session.scalar(select(User).where(User.username == "dispatcher"))
    agent.post(f"/messaging/conversations/{conv.id}/assign", data={"csrf_token": token, "assignee_id": dispatcher.id})
    agent.post(f"/messaging/conversations/{conv.id}/resolve", data={"csrf_token": token})
    session.expire_all()
    conv = session.get(Conversation, conv.id)
    assert conv.assignee_id == dispatcher.id and conv.status == "resolved" and conv.resolved_by.username == "agent"
    receive(client, "one more question", phone="+94775550003")  # the customer writes again: back in the inbox
    session.expire_all()
    assert session.get(Conversation, conv.id).status == "open"


def test_one_click_request_and_ticket(client, session, web_as, api_as, twilio):
    receive(client, "I was charged twice, please refund", phone="+94775550004", name="Dilan")
    message = session.scalar(select(Message))
    agent = web_as("agent")
    token = csrf_token(agent.get(f"/messaging/conversations/{message.conversation_id}").get_data(as_text=True))
    assert agent.post(f"/messaging/messages/{message.id}/request", data={"csrf_token": token}).status_code == 302
    request = session.scalar(select(CustomerRequest))
    assert request.channel == "whatsapp" and request.source_ref == message.provider_sid
    assert request.customer_id == message.customer_id and request.text == "I was charged twice, please refund"
    api = api_as("agent")
    assert api.post(f"/api/v1/messages/{message.id}/request").json["request_id"] == request.id  # once
    created = api.post(f"/api/v1/messages/{message.id}/ticket")
    assert created.status_code == 201
    again = api.post(f"/api/v1/messages/{message.id}/ticket")
    assert again.status_code == 200 and again.json["ticket_id"] == created.json["ticket_id"]
    ticket = session.get(Ticket, created.json["ticket_id"])
    assert ticket.customer_id == message.customer_id and "charged twice" in ticket.description
    assert api.post("/api/v1/messages/999/ticket").status_code == 404


def test_messages_api_lists_and_refuses_bad_input(client, session, api_as, twilio):
    receive(client, "hello", phone="+94775550005")
    agent = api_as("agent")
    listed = agent.get("/api/v1/messages/")
    assert listed.status_code == 200 and listed.json["count"] == 1
    assert agent.post("/api/v1/messages/", json={"to": "+94775550005", "body": "hi"}).status_code == 400
    assert agent.post("/api/v1/messages/", json={"idempotency_key": "a", "body": "hi"}).status_code == 400
    assert agent.post("/api/v1/messages/", data="nope", content_type="text/plain").status_code == 400
    assert api_as("cpo").get("/api/v1/messages/").status_code == 200
    assert api_as("cpo").post("/api/v1/messages/", json={}).status_code == 403


def test_demo_seed_is_idempotent_and_shows_in_the_inbox(session, web_as):
    from sqlalchemy import func

    from app.demo import messaging as demo
    from app.models.messaging import MessageTemplate, NotificationGroup

    for _ in range(2):
        demo.seed(session)
        session.commit()
    assert session.scalar(select(func.count()).select_from(Conversation)) == 3
    assert session.scalar(select(func.count()).select_from(MessageTemplate)) == len(demo.TEMPLATES)
    managers = session.scalar(select(NotificationGroup).where(NotificationGroup.code == "managers"))
    assert [u.username for u in managers.members] == ["manager"]
    page = web_as("manager").get("/messaging/inbox/").get_data(as_text=True)
    assert "Nadeesha Fernando" in page and "Sunil Perera" in page


def test_customer_panel_and_link(app, client, session, web_as, twilio, customer):
    from app.views.messaging import messages_panel

    receive(client, "Hello from Sunil", phone=customer.phone)
    panel = messages_panel(session, customer)
    assert panel["link"] == f"/messaging/customers/{customer.id}"
    assert [row[1:] for row in panel["rows"]] == [["whatsapp", "inbound", "received", "Hello from Sunil"]]
    response = web_as("agent").get(f"/messaging/customers/{customer.id}")
    assert response.status_code == 302 and "/messaging/conversations/" in response.headers["Location"]


def test_unknown_number_becomes_a_customer_contacts_can_find(client, session, twilio):
    from app.services.customers import balance_of, find_by_phone

    receive(client, "hi, new here", phone="+94775550042", name="Ruwan")
    customer = find_by_phone(session, "+94775550042")
    assert customer is not None and customer.name == "Ruwan"
    assert [p.phone for p in customer.phones] == ["+94775550042"]
    assert balance_of(session, customer.id) is not None  # the wallet create_customer opens
    assert session.scalar(select(Conversation).where(Conversation.customer_id == customer.id)) is not None


def test_inbound_race_on_a_new_number_uses_the_customer_already_saved(client, session, twilio, monkeypatch):
    """A concurrent first message saved the customer between the lookup and create_customer."""
    from app.services import customers

    receive(client, "first", phone="+94775550043", name="Ruwan")
    real = customers.find_by_phone
    calls = []

    def stale_first_lookup(s, phone):
        calls.append(phone)
        return None if len(calls) == 1 else real(s, phone)

    monkeypatch.setattr(customers, "find_by_phone", stale_first_lookup)
    receive(client, "second", phone="+94775550043", name="Ruwan")
    assert len(calls) == 2
    assert session.scalar(select(func.count()).select_from(Conversation)) == 1
    assert session.scalar(select(func.count()).select_from(Message).where(Message.direction == "inbound")) == 2


def test_reply_outside_the_window_is_refused_on_screen_and_over_the_api(client, session, web_as, api_as, twilio, templates):
    receive(client, "hello", phone="+94775550006", name="Eranga")
    conv = session.scalar(select(Conversation))
    api = api_as("agent")
    inside = api.post("/api/v1/messages/", json={"conversation_id": conv.id, "body": "Hi Eranga", "idempotency_key": "c1"})
    assert inside.status_code == 201 and inside.json["conversation_id"] == conv.id
    session.execute(Message.__table__.update().where(Message.direction == "inbound")
                    .values(created_at=utcnow() - timedelta(hours=25)))
    session.commit()
    refused = api.post("/api/v1/messages/", json={"conversation_id": conv.id, "body": "Still there?", "idempotency_key": "c2"})
    assert refused.status_code == 409
    agent = web_as("agent")
    listing = agent.get("/messaging/inbox/").get_data(as_text=True)  # the inbox shows what send refuses
    assert "template only" in listing and "free text" not in listing
    page = agent.get(f"/messaging/conversations/{conv.id}").get_data(as_text=True)
    response = agent.post(f"/messaging/conversations/{conv.id}/reply", data={
        "csrf_token": csrf_token(page), "body": "Still there?", "idempotency_key": "c3"}, follow_redirects=True)
    assert "only an approved template" in response.get_data(as_text=True)
    assert session.scalar(select(Message).where(Message.idempotency_key.in_(["c2", "c3"]))) is None
