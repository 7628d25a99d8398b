"""The busy screens people live in every day: what each shows, in words, before anyone acts."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.models.base import utcnow
from app.models.customers import Customer
from app.models.messaging import Message
from app.models.outbox import OutboxMessage
from app.models.support import CustomerRequest
from tests.conftest import csrf_token


@pytest.fixture
def kamal(session):
    customer = Customer(name="Kamal Perera", phone="+94771230001", email="kamal@example.com")
    session.add(customer)
    session.commit()
    return customer


def _agent_id(session):
    from flask_appbuilder.security.sqla.models import User

    return session.scalar(select(User.id).where(User.username == "agent"))


def test_the_call_screen_shows_the_callers_open_tickets_recent_calls_and_links_the_customer(web_as, session, kamal):
    from app.services import support_calls, support_tickets

    agent = _agent_id(session)
    earlier = support_calls.log_call(session, caller_phone="077 123 0001", category="Charger Faults", agent_id=agent,
                            summary="Screen blank at the mall charger")
    ticket = support_tickets.open_ticket(session, title="Refund the double charge", priority="High", category="Payment Issues",
                              customer_id=kamal.id, assignee_id=agent)
    closed = support_tickets.open_ticket(session, title="Old closed issue", category="General Inquiry", customer_id=kamal.id, assignee_id=agent)
    closed.status = "Closed"
    session.commit()
    web = web_as("agent")
    form = web.get("/support/calls/new").get_data(as_text=True)
    assert 'value="" selected disabled>Choose the category' in form  # nothing preselected
    assert "caller_card.js" in form and "<script>" not in form
    card = web.get("/support/calls/caller?phone=0771230001").get_data(as_text=True)
    assert f'href="/customer/{kamal.id}"' in card and "Kamal Perera" in card
    assert f"/support/tickets/{ticket.id}" in card and "Refund the double charge" in card
    assert "Old closed issue" not in card
    assert f"/support/calls/{earlier.id}" in card and "Screen blank" in card
    unknown = web.get("/support/calls/caller?phone=0779999999").get_data(as_text=True)
    assert "No customer with +94779999999" in unknown and "No calls from this number yet" in unknown


def test_a_call_without_a_category_is_refused_with_a_message(web_as, session):
    web = web_as("agent")
    token = csrf_token(web.get("/support/calls/new").get_data(as_text=True))
    response = web.post("/support/calls/new", data={"csrf_token": token, "caller_phone": "0771230002", "summary": "hi"})
    assert response.status_code == 400
    assert "category" in response.get_data(as_text=True).lower()


def test_the_request_queue_puts_critical_first(web_as, session):
    now = utcnow()
    for n, priority in enumerate(["Low", "Critical", "Medium", "High", "Critical"]):
        session.add(CustomerRequest(channel="web", text=f"request {n} {priority}", priority=priority, status="New",
                                    created_at=now - timedelta(minutes=10 - n), updated_at=now))
    session.commit()
    page = web_as("manager").get("/support/requests/").get_data(as_text=True)
    positions = {n: page.index(f"request {n} ") for n in range(5)}
    assert positions[4] < positions[1] < positions[3] < positions[2] < positions[0]  # Critical (newest first), High, Medium, Low


def test_top_ups_show_whom_a_number_credits_before_crediting(web_as, session, kamal):
    web = web_as("finance")
    desk = web.get("/topups/").get_data(as_text=True)
    assert "topup_customer.js" in desk and 'data-who-url="/topups/who"' in desk
    found = web.get("/topups/who?customer=077 123 0001").get_data(as_text=True)
    assert "Credits" in found and "Kamal Perera" in found and f"#{kamal.id}" in found
    missing = web.get("/topups/who?customer=0779999999").get_data(as_text=True)
    assert "nothing would be credited" in missing and "Kamal" not in missing


def test_the_installation_board_groups_its_stages_and_says_why_no_team_is_free(session):
    from app.models.people import FieldTeam
    from app.services import installations as svc
    from app.services.installations_board import no_team_reason, phases

    grouped = phases(svc.ACTIVE_STAGES + [svc.ON_HOLD])
    assert len(grouped) == 6 and sum(len(stages) for _, stages in grouped) == len(svc.ACTIVE_STAGES) + 1
    teams = list(session.scalars(select(FieldTeam)))
    day = utcnow().date()
    nobody = no_team_reason(teams, "installation", "Galle", day, "morning", set())
    assert "no active team does installations in Galle" in nobody
    north = next(t for t in teams if t.name == "Team Colombo North")
    booked = {(north.id, day, "morning")}
    busy = no_team_reason([north], "survey", "Gampaha", day, "morning", booked)
    assert "Team Colombo North is booked on" in busy and "morning" in busy


def test_the_board_page_renders_its_phases(web_as):
    html = web_as("centralops").get("/installations/board").get_data(as_text=True)
    assert 'class="io-phase"' in html and "Lead and documents" in html and "onchange=" not in html


def test_the_oem_portal_pages_its_jobs(web_as, session):
    from app.demo.installations import seed_reference
    from app.models.installations import Lead

    refs = seed_reference(session)
    oem = refs["oems"]["TATA"]
    for n in range(30):
        session.add(Lead(oem_id=oem.id, oem_ref=f"PG-{n:03d}", source="api", customer_name=f"Customer {n}",
                         phone=f"+9477600{n:04d}", district="Colombo", created_at=utcnow()))
    session.commit()
    web = web_as("oem_tata")
    first = web.get("/installations/oem/").get_data(as_text=True)
    assert "PG-029" in first and "PG-004" not in first and 'id="older"' in first
    second = web.get("/installations/oem/?page=1").get_data(as_text=True)
    assert "PG-004" in second and "PG-029" not in second and 'id="newer"' in second and 'id="older"' not in second


def test_daily_menus_list_each_screen_once(app):
    from app.extensions import appbuilder

    for item in appbuilder.menu.get_list():
        labels = [str(child.label) for child in item.childs if child.name != "-"]
        assert len(labels) == len(set(labels)), item.name
    support = [str(c.label) for c in appbuilder.menu.find("Support").childs]
    assert "Calls" not in support and "Tickets" not in support and "Log a call" in support
    records = [str(c.label) for c in appbuilder.menu.find("Records").childs]
    assert "Calls (all records)" in records and "Installation jobs (all records)" in records


def test_an_agents_menu_offers_the_call_log_once_and_the_raw_table_apart(web_as):
    assert "Calls (all records)" in web_as("admin").get("/").get_data(as_text=True)
    agent_home = web_as("agent").get("/").get_data(as_text=True)
    assert agent_home.count(">Log a call<") + agent_home.count("Log a call</a>") >= 1
    assert agent_home.count("Calls (all records)") <= 1 and "Installation jobs (all records)" not in agent_home


def test_without_twilio_a_message_is_kept_once_as_not_sent_and_the_inbox_shows_it(app, session, web_as, kamal, caplog):
    from app.demo.messaging import seed_templates
    from app.services import messaging_outbound

    seed_templates(session)
    for key in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_WHATSAPP_FROM"):
        assert not app.config.get(key)
    before = session.scalar(select(func.count()).select_from(OutboxMessage))
    sent = [messaging_outbound.send_whatsapp(session, to=kamal.phone, template="installation_update",
                                    variables={"name": "Kamal", "update": f"step {n}"}, customer_id=kamal.id,
                                    idempotency_key=f"unconfigured-{n}") for n in range(3)]
    session.commit()
    for message in sent:
        assert message.status == "failed" and message.error_message == "not sent: WhatsApp not configured"
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == before  # nothing queued to retry
    assert sum("WhatsApp not configured" in r.getMessage() for r in caplog.records) <= 1
    again = messaging_outbound.send_whatsapp(session, to=kamal.phone, template="installation_update",
                                    variables={"name": "Kamal", "update": "step 0"}, idempotency_key="unconfigured-0")
    assert again.id == sent[0].id  # once
    inbox = web_as("manager").get("/messaging/inbox/?box=all").get_data(as_text=True)
    assert "send-failed" in inbox and "not sent: WhatsApp not configured" in inbox and "label-danger" in inbox
    assert "inbox.js" in inbox and "<script>" not in inbox
