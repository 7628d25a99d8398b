"""The support screens through a signed-in browser-like client (real login, CSRF on)."""
from __future__ import annotations

from app.models.base import utcnow

from sqlalchemy import select

from app.models.support import Call, CustomerRequest, SupportAudit, Ticket
from tests.conftest import csrf_token
from tests.support.conftest import user_id, wait_classified


def _post(browser, page_url, action, data):
    token = csrf_token(browser.get(page_url).get_data(as_text=True))
    return browser.post(action, data={**data, "csrf_token": token})


def test_agent_logs_a_call_escalates_and_works_the_ticket(web_as, customer, session):
    browser = web_as("agent")
    response = _post(browser, "/support/calls/new", "/support/calls/new",
                     {"caller_phone": "077 123 4567", "category": "Charger Faults", "summary": "CP-9 will not start",
                      "charger_ref": "CP-9"})
    assert response.status_code == 302
    call = session.scalar(select(Call))
    assert call.customer_id == customer.id
    page = browser.get(f"/support/calls/{call.id}").get_data(as_text=True)
    assert "Sunil Perera" in page and "sunil@example.com" in page and "no wallet" in page
    response = _post(browser, f"/support/calls/{call.id}", f"/support/calls/{call.id}/escalate", {})
    ticket = session.scalar(select(Ticket))
    assert response.headers["Location"].endswith(f"/support/tickets/{ticket.id}")
    html = browser.get(f"/support/tickets/{ticket.id}").get_data(as_text=True)
    assert f"Call #{call.id}" in html and "Move to In Progress" in html and "Audit trail" in html
    _post(browser, f"/support/tickets/{ticket.id}", f"/support/tickets/{ticket.id}/transition", {"to": "In Progress"})
    _post(browser, f"/support/tickets/{ticket.id}", f"/support/tickets/{ticket.id}/notes", {"body": "Technician on the way"})
    refused = _post(browser, f"/support/tickets/{ticket.id}", f"/support/tickets/{ticket.id}/transition", {"to": "Closed"})
    assert refused.status_code == 302
    html = browser.get(f"/support/tickets/{ticket.id}").get_data(as_text=True)
    assert "Technician on the way" in html and "cannot move to Closed" in html
    assert "In Progress" in html and "Move to Resolved" in html
    assert session.scalar(select(Ticket.status)) == "In Progress"


def test_invalid_call_form_says_why_and_keeps_the_input(web_as, session):
    browser = web_as("agent")
    response = _post(browser, "/support/calls/new", "/support/calls/new", {"caller_phone": "abc", "category": "Complaints", "summary": "keep me"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "not a valid phone number" in html and "keep me" in html
    assert session.query(Call).count() == 0


def test_history_page_filters(web_as, session):
    from app.services.support_calls import log_call

    log_call(session, caller_phone="0771234567", category="Complaints", summary="noisy site", agent_id=user_id(session, "agent"))
    log_call(session, caller_phone="0771234567", category="Payment Issues", summary="double charge")
    session.commit()
    browser = web_as("dispatcher")
    html = browser.get("/support/calls/?category=Complaints&date_from=2020-01-01").get_data(as_text=True)
    assert "noisy site" in html and "double charge" not in html
    assert "double charge" in browser.get("/support/calls/?q=double").get_data(as_text=True)
    today = utcnow().date()  # "to" is a whole day: today's calls are in it, on the page and over the API
    assert "noisy site" in browser.get(f"/support/calls/?date_from={today}&date_to={today}").get_data(as_text=True)
    found = web_as("agent").get(f"/api/v1/calls/search?date_from={today}&date_to={today}")
    assert {c["summary"] for c in found.json["result"]} == {"noisy site", "double charge"}


def test_request_form_queue_and_audited_override(web_as, session, celery_worker):
    browser = web_as("agent")
    response = _post(browser, "/support/requests/new", "/support/requests/new", {"text": "Refund my top-up please", "channel": "web", "phone": "0771112223"})
    assert response.status_code == 302
    item = session.scalar(select(CustomerRequest))
    assert item.channel == "web" and item.created_by_id == user_id(session, "agent")
    wait_classified(session, item.id)
    assert f"#{item.id}" in browser.get("/support/requests/").get_data(as_text=True)
    manager = web_as("manager")
    dispatcher = user_id(session, "dispatcher")
    _post(manager, f"/support/requests/{item.id}", f"/support/requests/{item.id}/override", {"assignee_id": str(dispatcher), "priority": "High"})
    session.expire_all()
    item = session.get(CustomerRequest, item.id)
    assert item.assignee_id == dispatcher and item.assignment_overridden and item.priority == "High"
    html = manager.get(f"/support/requests/{item.id}").get_data(as_text=True)
    assert "(manual)" in html and "assignee_id" in html
    rows = session.scalars(select(SupportAudit).where(SupportAudit.entity == "request", SupportAudit.field == "assignment_overridden")).all()
    assert rows[-1].user_id == user_id(session, "manager")


def test_request_api_queue_and_override(api_as, session, celery_worker):
    api = api_as("dispatcher")
    created = api.post("/api/v1/requests/", json={"text": "charger offline at mall", "phone": "0771234567"})
    assert created.status_code == 201 and created.json["result"]["channel"] == "api"
    assert api.post("/api/v1/requests/", json={"text": ""}).status_code == 400
    pk = created.json["id"]
    wait_classified(session, pk)
    agent = user_id(session, "agent")
    updated = api.put(f"/api/v1/requests/{pk}", json={"assignee_id": agent})
    assert updated.status_code == 200 and updated.json["result"]["assignee_id"] == agent
    assert api.put(f"/api/v1/requests/{pk}", json={"assignee_id": 99999}).status_code == 404
    assert api.put(f"/api/v1/requests/{pk}", json={"text": "x"}).status_code == 400
    first = api.post(f"/api/v1/requests/{pk}/ticket")
    again = api.post(f"/api/v1/requests/{pk}/ticket")
    assert first.status_code == 201 and again.status_code == 200 and first.json["id"] == again.json["id"]
    assert api.get(f"/api/v1/requests/{pk}").json["result"]["status"] == "In Progress"


def test_agent_records_the_outcome_of_a_call(web_as, session):
    from app.services.support_calls import log_call

    call = log_call(session, caller_phone="0771234567", category="Payment Issues", agent_id=user_id(session, "agent"))
    session.commit()
    browser = web_as("agent")
    _post(browser, f"/support/calls/{call.id}", f"/support/calls/{call.id}",
          {"outcome": "Resolved on call", "resolution": "Refund issued", "status": "Resolved"})
    session.expire_all()
    call = session.get(Call, call.id)
    assert (call.outcome, call.resolution, call.status) == ("Resolved on call", "Refund issued", "Resolved")
    html = browser.get(f"/support/calls/{call.id}").get_data(as_text=True)
    assert "Refund issued" in html and "outcome" in html
