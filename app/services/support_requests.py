"""Customer requests: creation, classification, routing (`ROUTING`), overrides and conversion to a ticket.

Services flush; the caller commits.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Optional

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.people import TeamMember
from app.models.support import (
    PRIORITIES, REQUEST_CHANNELS, REQUEST_STATUSES,
    CustomerRequest, Ticket,
)
from app.services import Conflict, InvalidInput, NotFound
from app.services.classification import classify
from app.services.customers import find_by_phone
from app.services.notifications import notify_user
from app.services.outbox import enqueue_after_commit
from app.services.people import (
    user_may_work,
)
from app.services.phones import try_e164
from app.services.support import (
    OPEN_REQUEST_STATUSES, ROUTING, _choice, _customer_id, _department_id, _department_of, _get, _text,
    _user_id, department_by_name, least_loaded_member, scope_clause,
)
from app.services.support_tickets import open_ticket


def get_request(session: Session, request_id: Any, viewer: Optional[int]) -> CustomerRequest:
    return _get(session, CustomerRequest, request_id, "request", viewer=viewer)


def list_requests(session: Session, *, status: str = "open", viewer: Optional[int] = None, limit: int = 200) -> list[CustomerRequest]:
    """The request queue, Critical first then by priority, newest first within one: "open" (New, Assigned, In Progress), one status, or anything else for all."""
    urgent_first = case({p: rank for rank, p in enumerate(PRIORITIES)}, value=CustomerRequest.priority, else_=len(PRIORITIES))
    query = select(CustomerRequest).order_by(urgent_first, CustomerRequest.created_at.desc()).limit(limit)
    if status == "open":
        query = query.where(CustomerRequest.status.in_(OPEN_REQUEST_STATUSES))
    elif status in REQUEST_STATUSES:
        query = query.where(CustomerRequest.status == status)
    if viewer is not None:
        query = query.where(scope_clause(session, CustomerRequest, viewer))
    return list(session.scalars(query))


def route_request(session: Session, request_id: int) -> CustomerRequest:
    """Apply the routing table to a classified request: department and priority from
    ROUTING[(category, urgency)], assignee the least-loaded active member of that department.

    A request whose assignment a person overrode keeps that assignee (routing only fills the
    priority then). Unclassified requests are a Conflict. Notifies the new assignee. Caller commits.
    """
    request = _get(session, CustomerRequest, request_id, "request")
    if request.category is None or request.urgency is None:
        raise Conflict(f"request {request.id} is not classified yet")
    department_name, priority = ROUTING[(request.category, request.urgency)]
    request.priority = priority
    if request.assignment_overridden:
        return request
    department = department_by_name(session, department_name)
    if department is None:
        raise Conflict(f"routing points at department {department_name}, which does not exist")
    if request.assignee_id is not None and request.assigned_department_id == department.id and session.scalar(
        select(TeamMember.id).where(TeamMember.user_id == request.assignee_id, TeamMember.department_id == department.id,
                                    TeamMember.active.is_(True))
    ):
        return request  # already routed here: routing again is a no-op
    request.assigned_department_id = department.id
    member = least_loaded_member(session, department.id, works="CustomerRequest")
    if member is not None and request.assignee_id != member.user_id:
        request.assignee_id = member.user_id
        notify_user(
            session, member.user_id, "support_request", f"New {priority} request #{request.id}: {request.category}",
            body=request.summary, link=f"/support/requests/{request.id}", ref_type="request", ref_id=request.id,
        )
    if request.status == "New" and request.assignee_id is not None:
        request.status = "Assigned"
    request.updated_at = utcnow()
    return request


# --- customer requests ---------------------------------------------------------------------


def create_request(
    session: Session,
    *,
    text: str,
    channel: str,
    customer_id: Optional[int] = None,
    phone: Optional[str] = None,
    created_by: Optional[int] = None,
    source_ref: Optional[str] = None,
) -> CustomerRequest:
    """Store a customer request and queue its classification (Celery task "support.classify_request").

    - channel: one of "web", "api", "whatsapp", "phone".
    - phone: any written form; stored as E.164 when valid. Without customer_id, the customer is
      found by this phone number.
    - created_by: the ab_user id of the person who entered it (None for customers/webhooks).
    - source_ref: the provider's id (e.g. a WhatsApp message SID). (channel, source_ref) is unique:
      storing the same one again returns the first request and queues nothing.
    The request is flushed (it has an id); the task is sent when the caller commits the session
    (never on rollback), so the worker always finds the row. Invalid input raises InvalidInput.
    """
    channel = _choice(channel, "channel", REQUEST_CHANNELS, required=True)
    text = _text(text, "text", required=True, max_len=5000)
    source_ref = _text(source_ref, "source_ref", max_len=120)
    if source_ref is not None:
        existing = session.scalar(
            select(CustomerRequest).where(CustomerRequest.channel == channel, CustomerRequest.source_ref == source_ref)
        )
        if existing is not None:
            return existing
    e164 = try_e164(phone) if phone else None
    customer_id = _customer_id(session, customer_id)
    if customer_id is None and e164:
        customer = find_by_phone(session, e164)
        customer_id = customer.id if customer else None
    request = CustomerRequest(
        channel=channel, text=text, customer_id=customer_id,
        phone=e164 or (_text(phone, "phone", max_len=20) if phone else None),
        created_by_id=created_by, source_ref=source_ref, status="New",
    )
    request._actor_id = created_by
    session.add(request)
    session.flush()
    queue_classification(session, request.id)
    return request


def queue_classification(session: Session, request_id: int) -> None:
    """Classify and route the request once the caller commits (the outbox hands it to a worker)."""
    enqueue_after_commit(session, "support.classify_request", request_id)


def classify_request(session: Session, request_id: int, force: bool = False) -> Optional[CustomerRequest]:
    """Classify a request (Claude or the rules, see app.services.classification.classify) and route it.

    Idempotent: an already classified request is not classified again unless force=True.
    Returns None when the request no longer exists. Caller commits.
    """
    request = session.get(CustomerRequest, int(request_id))
    if request is None:
        return None
    result = classify(request.text) if request.classified_at is None or force else None  # no lock held meanwhile
    try:
        request = _get(session, CustomerRequest, request.id, "request", lock=True)
    except NotFound:
        return None
    if result is not None and (request.classified_at is None or force):
        request.category = result.category
        request.urgency = result.urgency
        request.department = result.department
        request.summary = result.summary[:300]
        request.confidence = result.confidence
        request.classifier = result.classifier
        request.classified_at = utcnow()
    return route_request(session, request.id)


def override_request_assignment(
    session: Session,
    request_id: int,
    *,
    by_user_id: Optional[int],
    assignee_id: Any = None,
    department_id: Any = None,
    priority: Any = None,
) -> CustomerRequest:
    """A person reassigns a request: routing no longer moves it; every changed field is audited."""
    request = _get(session, CustomerRequest, request_id, "request", lock=True, viewer=by_user_id)
    if assignee_id in (None, "") and department_id in (None, "") and priority in (None, ""):
        raise InvalidInput("give assignee_id, department_id or priority")
    request._actor_id = by_user_id
    if department_id not in (None, ""):
        request.assigned_department_id = _department_id(session, department_id)
    if assignee_id not in (None, ""):
        request.assignee_id = _user_id(session, assignee_id)
        if not user_may_work(session, request.assignee_id, "CustomerRequest"):
            raise InvalidInput(f"assignee_id: user {request.assignee_id} cannot work customer requests")
        if department_id in (None, ""):
            request.assigned_department_id = _department_of(session, request.assignee_id) or request.assigned_department_id
        notify_user(
            session, request.assignee_id, "support_request", f"Request #{request.id} assigned to you",
            body=request.summary or request.text[:200], link=f"/support/requests/{request.id}",
            ref_type="request", ref_id=request.id,
        )
        if request.status == "New":
            request.status = "Assigned"
    if priority not in (None, ""):
        request.priority = _choice(priority, "priority", PRIORITIES)
    request.assignment_overridden = True
    request.updated_at = utcnow()
    return request


def set_request_status(session: Session, request_id: int, status: str, by_user_id: Optional[int]) -> CustomerRequest:
    request = _get(session, CustomerRequest, request_id, "request", lock=True, viewer=by_user_id)
    request._actor_id = by_user_id
    request.status = _choice(status, "status", REQUEST_STATUSES, required=True)
    request.updated_at = utcnow()
    return request


def convert_request_to_ticket(session: Session, request_id: int, by_user_id: Optional[int]) -> tuple[Ticket, bool]:
    """Open a ticket for a request (idempotent: the request's existing ticket is returned)."""
    request = _get(session, CustomerRequest, request_id, "request", lock=True, viewer=by_user_id)
    existing = session.scalar(select(Ticket).where(Ticket.request_id == request.id))
    if existing is not None:
        return existing, False
    ticket = open_ticket(
        session, title=f"{request.category or 'Request'}: {(request.summary or request.text)[:150]}",
        description=request.text, priority=request.priority or "Medium", category=request.category,
        customer_id=request.customer_id,
        assignee_id=request.assignee_id if request.assignee_id and user_may_work(session, request.assignee_id, "Ticket") else None,
        department_id=request.assigned_department_id, request_id=request.id, created_by=by_user_id,
    )
    request._actor_id = by_user_id
    request.status = "In Progress"
    request.updated_at = utcnow()
    return ticket, True


def unclassified_request_ids(session: Session, older_than: timedelta, now: Optional[datetime] = None) -> list[int]:
    """Requests whose classification never ran (broker down when they were stored)."""
    cutoff = (now or utcnow()) - older_than
    return list(session.scalars(
        select(CustomerRequest.id).where(CustomerRequest.classified_at.is_(None), CustomerRequest.created_at <= cutoff)
        .limit(500)
    ))

