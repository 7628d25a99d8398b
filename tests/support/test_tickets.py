"""Tickets: the transition table, reopen counting, assignment, notes, the audit trail, SLA due times."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from app.models.support import TICKET_STATUSES, SupportAudit, Ticket
from app.services import Conflict
from app.services.support_tickets import TICKET_TRANSITIONS, open_ticket, transition_ticket
from tests.support.conftest import user_id

LEGAL = {("Open", "In Progress"), ("In Progress", "Resolved"), ("Resolved", "Closed"), ("Resolved", "In Progress")}
PATH_TO = {"Open": [], "In Progress": ["In Progress"], "Resolved": ["In Progress", "Resolved"],
           "Closed": ["In Progress", "Resolved", "Closed"]}


def _ticket_in(api, status: str) -> int:
    ticket_id = api.post("/api/v1/tickets/", json={"title": "Charger CP-3 offline", "priority": "High"}).json["id"]
    for step in PATH_TO[status]:
        assert api.post(f"/api/v1/tickets/{ticket_id}/transition", json={"to": step}).status_code == 200
    return ticket_id


def test_the_declared_table_is_the_workflow():
    assert set(TICKET_TRANSITIONS) == LEGAL


@pytest.mark.parametrize("start", TICKET_STATUSES)
def test_every_legal_and_illegal_move(api_as, start):
    api = api_as("agent")
    for to in TICKET_STATUSES:
        ticket_id = _ticket_in(api, start)
        response = api.post(f"/api/v1/tickets/{ticket_id}/transition", json={"to": to})
        if (start, to) in LEGAL:
            assert response.status_code == 200, (start, to, response.json)
            assert response.json["result"]["status"] == to
        else:
            assert response.status_code == 409, (start, to)
            assert f"is {start} and cannot move to {to}" in response.json["message"]
            assert api.get(f"/api/v1/tickets/{ticket_id}").json["result"]["status"] == start


def test_bad_transition_input(api_as):
    api = api_as("agent")
    ticket_id = _ticket_in(api, "Open")
    assert api.post(f"/api/v1/tickets/{ticket_id}/transition", json={"to": "Done"}).status_code == 400
    assert api.post(f"/api/v1/tickets/{ticket_id}/transition", json={}).status_code == 400
    assert api.post("/api/v1/tickets/99999/transition", json={"to": "In Progress"}).status_code == 404
    assert api.put(f"/api/v1/tickets/{ticket_id}", json={"status": "Closed"}).status_code == 400


def test_reopen_goes_back_to_in_progress_and_is_counted(api_as):
    api = api_as("agent")
    ticket_id = _ticket_in(api, "Resolved")
    for _ in range(2):
        reopened = api.post(f"/api/v1/tickets/{ticket_id}/transition", json={"to": "In Progress"}).json["result"]
        assert reopened["status"] == "In Progress" and reopened["resolved_at"] is None
        api.post(f"/api/v1/tickets/{ticket_id}/transition", json={"to": "Resolved"})
    assert api.get(f"/api/v1/tickets/{ticket_id}").json["result"]["reopen_count"] == 2


def test_audit_trail_records_every_field_change_with_who_old_and_new(api_as, session):
    agent, manager = api_as("agent"), api_as("manager")
    ticket_id = agent.post("/api/v1/tickets/", json={"title": "Refund", "priority": "Low"}).json["id"]
    dispatcher = user_id(session, "dispatcher")
    assert manager.put(f"/api/v1/tickets/{ticket_id}", json={"priority": "Critical", "assignee_id": dispatcher}).status_code == 200
    agent.post(f"/api/v1/tickets/{ticket_id}/transition", json={"to": "In Progress"})
    history = agent.get(f"/api/v1/tickets/{ticket_id}/history").json["audit"]
    by_field = {(h["field"], h["user"]): h for h in history}
    assert by_field[("created", "agent")]["new"] == "Open"
    assert by_field[("priority", "manager")]["old"] == "Low" and by_field[("priority", "manager")]["new"] == "Critical"
    assert "dispatcher" in by_field[("assignee_id", "manager")]["new"]
    assert by_field[("department_id", "manager")]["new"] == "Service"  # the member's department follows
    assert ("resolution_due", "manager") in by_field  # the SLA moved with the priority
    assert by_field[("status", "agent")]["old"] == "Open" and by_field[("status", "agent")]["new"] == "In Progress"
    assert all(h["at"] for h in history)


def test_assignment_to_a_department_clears_the_member(session):
    agent = user_id(session, "agent")
    ticket = open_ticket(session, title="Wallet", assignee_id=agent, created_by=agent)
    session.commit()
    assert ticket.department.name == "Hotline"
    from app.models.people import Department
    from app.services.support_tickets import assign_ticket

    technical = session.scalar(select(Department.id).where(Department.name == "Technical"))
    assign_ticket(session, ticket.id, by_user_id=agent, department_id=technical)
    session.commit()
    assert ticket.assignee_id is None and ticket.department.name == "Technical"


def test_notes_count_as_first_response(api_as, session):
    ticket_id = api_as("manager").post("/api/v1/tickets/", json={"title": "Cable", "priority": "Medium"}).json["id"]
    assert api_as("agent").post(f"/api/v1/tickets/{ticket_id}/notes", json={"body": "Called the customer"}).status_code == 201
    assert api_as("agent").post(f"/api/v1/tickets/{ticket_id}/notes", json={"body": " "}).status_code == 400
    notes = api_as("agent").get(f"/api/v1/tickets/{ticket_id}/history").json["notes"]
    assert [n["body"] for n in notes] == ["Called the customer"]
    assert session.get(Ticket, ticket_id).first_responded_at is not None


def test_sla_due_times_and_breach_flags_with_a_frozen_clock(app, session):
    response_min, resolution_min = app.config["SUPPORT_SLA_MINUTES"]["Critical"]
    with freeze_time("2026-03-01 08:00:00"):
        ticket = open_ticket(session, title="Charger on fire", priority="Critical")
        session.commit()
        assert ticket.first_response_due == datetime(2026, 3, 1, 8) + timedelta(minutes=response_min)
        assert ticket.resolution_due == datetime(2026, 3, 1, 8) + timedelta(minutes=resolution_min)
        assert not ticket.response_breached and not ticket.resolution_breached
    with freeze_time(datetime(2026, 3, 1, 8) + timedelta(minutes=response_min + 1)):
        assert ticket.response_breached and not ticket.resolution_breached
        transition_ticket(session, ticket.id, "In Progress", None)
        session.commit()
        assert ticket.response_breached  # answered late stays breached
    with freeze_time(datetime(2026, 3, 1, 8) + timedelta(minutes=resolution_min - 1)):
        transition_ticket(session, ticket.id, "Resolved", None)
        session.commit()
    with freeze_time("2026-04-01"):
        assert not ticket.resolution_breached  # resolved in time stays in time


def test_illegal_move_in_the_service_raises_conflict(session):
    ticket = open_ticket(session, title="x")
    with pytest.raises(Conflict):
        transition_ticket(session, ticket.id, "Closed", None)


def test_fab_edits_are_audited_too(session):
    ticket = open_ticket(session, title="Before")
    session.commit()
    ticket.title = "After"  # any write path: the hook in support_audit records it
    session.commit()
    row = session.scalar(select(SupportAudit).where(SupportAudit.entity_id == ticket.id, SupportAudit.field == "title"))
    assert (row.old_value, row.new_value) == ("Before", "After")
