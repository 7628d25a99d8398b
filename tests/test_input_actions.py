"""Defects 6/7 (the rest): every hand-written action of calls, tickets, requests, messages, leads, jobs,
payouts and top-ups validates its input with one marshmallow schema: a bad shape is a 400 {"message"}
and nothing is written."""
from __future__ import annotations

from sqlalchemy import func, select

from app.models.customers import Customer, TopUp
from app.models.installations import InstallationJob, JobEvent, Lead
from app.models.messaging import Message
from app.models.support import Call, CustomerRequest, Ticket, TicketNote


def _count(session, model):
    session.rollback()
    return session.scalar(select(func.count()).select_from(model))


def _refused(response):
    assert response.status_code == 400, (response.status_code, response.get_data(as_text=True))
    assert isinstance(response.json.get("message"), str) and response.json["message"]


def test_support_actions_refuse_bad_shapes(api_as, session):
    api = api_as("manager")
    for body in ({"caller_phone": ["0771234567"], "category": "General Inquiry"},
                 {"caller_phone": "0771234567", "category": "General Inquiry", "assignee_id": "abc"},
                 {"caller_phone": "0771234567", "category": "General Inquiry", "colour": "red"}):
        _refused(api.post("/api/v1/calls/", json=body))
    assert _count(session, Call) == 0
    call = api.post("/api/v1/calls/", json={"caller_phone": "0771234567", "category": "General Inquiry", "summary": "first"})
    assert call.status_code == 201, call.json
    _refused(api.put(f"/api/v1/calls/{call.json['id']}", json={"summary": {"a": 1}}))
    assert session.get(Call, call.json["id"]).summary == "first"

    for body in ({"title": "x" * 201}, {"title": "Broken", "priority": ["High"]}, {"title": "Broken", "customer_id": 2**40}):
        _refused(api.post("/api/v1/tickets/", json=body))
    assert _count(session, Ticket) == 0
    ticket = api.post("/api/v1/tickets/", json={"title": "Charger dead", "priority": "High"}).json
    _refused(api.post(f"/api/v1/tickets/{ticket['id']}/transition", json={"to": 5}))
    _refused(api.post(f"/api/v1/tickets/{ticket['id']}/notes", json={"body": ""}))
    _refused(api.put(f"/api/v1/tickets/{ticket['id']}", json={"title": None}))
    assert _count(session, TicketNote) == 0 and session.get(Ticket, ticket["id"]).status == "Open"

    _refused(api.post("/api/v1/requests/", json={"text": "help", "customer_id": "abc"}))
    _refused(api.post("/api/v1/requests/", json={"text": ["help"]}))
    assert _count(session, CustomerRequest) == 0


def test_message_send_refuses_bad_shapes(api_as, session):
    api = api_as("manager")
    for body in ({"to": "+94771234567", "body": "hi"},  # no idempotency key
                 {"idempotency_key": "k1", "to": "+94771234567", "variables": [1, 2]},
                 {"idempotency_key": "k2", "channel": "fax", "to": "+94771234567", "body": "hi"},
                 {"idempotency_key": "k3", "to": "+94771234567", "body": "x" * 5000}):
        _refused(api.post("/api/v1/messages/", json=body))
    assert _count(session, Message) == 0


def test_leads_and_job_actions_refuse_bad_shapes(api_as, session):
    from app.demo.installations import seed_reference

    seed_reference(session)
    session.commit()
    from app.models.installations import Oem

    api = api_as("centralops")
    oem_id = session.scalar(select(Oem.id).order_by(Oem.id))
    base = {"oem_ref": "BAD-1", "customer_name": "Sunil Perera", "phone": "0771239876", "oem_id": oem_id}
    for body in ({**base, "vehicle_model": {"a": 1}}, {**base, "unknown_field": 1}, {**base, "oem_ref": "x" * 81}):
        _refused(api.post("/api/v1/leads/", json=body))
    assert _count(session, Lead) == 0
    created = api.post("/api/v1/leads/", json=base)
    assert created.status_code == 201, created.json
    job_id = session.scalar(select(InstallationJob.id).where(InstallationJob.lead_id == created.json["id"]))
    events = _count(session, JobEvent)
    _refused(api.post(f"/api/v1/jobs/{job_id}/assign", json={"team_id": "first"}))
    _refused(api.post(f"/api/v1/jobs/{job_id}/call", json={"purpose": "survey day", "note": {"a": 1}}))
    _refused(api.post(f"/api/v1/jobs/{job_id}/schedule", json={"date": "2027-01-01", "slot": "morning", "kind": "moon"}))
    _refused(api.post(f"/api/v1/jobs/{job_id}/transition", json={"comment": "no target"}))
    assert _count(session, JobEvent) == events
    _refused(api_as("finance").post("/api/v1/payouts/release", json={"team_id": "all"}))


def test_topups_refuse_bad_shapes(api_as, session):
    session.add(Customer(name="Topup Shape", phone="+94770009999"))
    session.commit()
    customer_id = session.scalar(select(Customer.id).where(Customer.phone == "+94770009999"))
    api = api_as("finance")
    for body in ({"customer_id": customer_id, "amount": "10.00", "receipt_no": "R-9", "colour": "red"},
                 {"customer_id": customer_id, "amount": "10.00", "receipt_no": ["R-9"]},
                 {"customer_id": customer_id, "amount": "10.00", "receipt_no": "R-9", "note": "x" * 501}):
        _refused(api.post("/api/v1/wallet/topups", json=body))
    assert _count(session, TopUp) == 0
    _refused(api.post("/api/v1/wallet/topups/1/reject", json={"reason": {"why": "no"}}))
