"""Customer requests: storing, classification as a Celery task, routing, least-loaded assignment, overrides."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.models.people import Department, TeamMember
from app.models.support import CustomerRequest, SupportAudit, Ticket
from app.services import InvalidInput
from app.services.support import ROUTING, least_loaded_member
from app.services.support_requests import classify_request, create_request, override_request_assignment, route_request
from tests.support.conftest import tool_use_answer, user_id, wait_classified


def _stored(session, text: str, channel: str = "web") -> CustomerRequest:
    """A stored request with no classification task queued (these tests classify it themselves)."""
    request = CustomerRequest(channel=channel, text=text, status="New")
    session.add(request)
    session.commit()
    return request


def _member(session, app, username, department):
    """A new active member of a department."""
    sm = app.appbuilder.sm
    user = sm.add_user(username, username.title(), "Tester", f"{username}@x.test", sm.find_role("Ops Agent"), "pw")
    dept = session.scalar(select(Department).where(Department.name == department))
    session.add(TeamMember(user_id=user.id, department_id=dept.id, active=True))
    session.commit()
    return user.id


def test_routing_table_covers_every_category_and_urgency():
    from app.services.classification import CATEGORIES, URGENCIES

    assert set(ROUTING) == {(c, u) for c in CATEGORIES for u in URGENCIES}


def test_create_request_links_customer_by_phone_and_is_idempotent_per_source(session, customer, celery_worker):
    first = create_request(session, text="My wallet balance is wrong", channel="whatsapp", phone="077 123 4567", source_ref="SM1")
    again = create_request(session, text="My wallet balance is wrong", channel="whatsapp", phone="077 123 4567", source_ref="SM1")
    assert first.id == again.id and first.customer_id == customer.id and first.phone == "+94771234567"
    assert first.status == "New"
    session.commit()
    wait_classified(session, first.id)
    with pytest.raises(InvalidInput):
        create_request(session, text=" ", channel="web")
    with pytest.raises(InvalidInput):
        create_request(session, text="hi", channel="fax")


def test_routing_picks_department_priority_and_least_loaded_member(app, session):
    # Technical has only the demo CPO; add two more members, one already busy
    busy = _member(session, app, "tech_busy", "Technical")
    idle = _member(session, app, "tech_idle", "Technical")
    cpo = user_id(session, "cpo")
    for owner in (busy, cpo):
        session.add(Ticket(title="work", priority="Low", status="In Progress", assignee_id=owner))
    session.commit()
    request = _stored(session, "Charger is broken, I am stranded, urgent!")
    classify_request(session, request.id)
    session.commit()
    assert (request.category, request.urgency, request.classifier) == ("Charger Faults", "Critical", "rules")
    assert request.priority == "Critical" and request.assigned_department.name == "Technical"
    assert request.assignee_id == idle and request.status == "Assigned"
    # idle now holds one request: the next goes to whoever has the least work (ties: lowest member id)
    second = _stored(session, "charger error again", "api")
    classify_request(session, second.id)
    session.commit()
    assert second.priority == "Medium" and second.assigned_department.name == "Maintenance"
    dept = session.scalar(select(Department).where(Department.name == "Technical"))
    loads = {least_loaded_member(session, dept.id).user_id}
    assert loads <= {busy, cpo, idle}


def test_inactive_members_are_never_assigned(app, session):
    inactive = _member(session, app, "tech_away", "Technical")
    session.execute(TeamMember.__table__.update().where(TeamMember.user_id == inactive).values(active=False))
    session.commit()
    request = _stored(session, "charger fault, urgent")
    classify_request(session, request.id)
    # nor anyone who cannot open requests (Technical's demo CPO): the request waits in Technical unassigned
    assert request.assignee_id is None and request.assigned_department.name == "Technical"


def test_override_is_audited_and_routing_keeps_it(session):
    request = _stored(session, "I want to complain about rude staff")
    classify_request(session, request.id)
    session.commit()
    assert request.assigned_department.name == "Service"
    manager, agent = user_id(session, "manager"), user_id(session, "agent")
    override_request_assignment(session, request.id, by_user_id=manager, assignee_id=agent)
    session.commit()
    route_request(session, request.id)
    session.commit()
    assert request.assignee_id == agent and request.assignment_overridden
    assert request.assigned_department.name == "Hotline"  # the agent's department follows
    audit = session.scalars(select(SupportAudit).where(
        SupportAudit.entity == "request", SupportAudit.entity_id == request.id, SupportAudit.field == "assignee_id",
        SupportAudit.user_id == manager)).all()
    assert len(audit) == 1 and "agent" in audit[0].new_value and "dispatcher" in audit[0].old_value


def test_classification_runs_as_a_celery_task_on_a_real_worker(app, session, celery_worker, claude):
    claude.expect_request("/v1/messages", method="POST").respond_with_json(
        tool_use_answer(category="Payment Issues", urgency="High", department="Hotline", summary="Double charge"))
    from app.tasks.support import classify_request_task

    request = _stored(session, "I was charged twice yesterday", "api")
    result = classify_request_task.delay(request.id).get(timeout=30)
    assert result["classifier"] == "claude:claude-test" and result["priority"] == "High"
    session.expire_all()
    stored = session.get(CustomerRequest, request.id)
    assert stored.summary == "Double charge" and stored.assignee_id is not None


def test_create_request_queues_classification_on_commit(app, session, celery_worker):
    request = create_request(session, text="How do I register a card?", channel="web")
    session.commit()
    wait_classified(session, request.id)
    stored = session.get(CustomerRequest, request.id)
    assert stored.classifier == "rules" and stored.category in ("General Inquiry", "Payment Issues")
