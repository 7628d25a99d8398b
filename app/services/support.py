"""Support desk rules: customer requests (classification, routing), hotline calls, tickets.

Stable entry points other modules build on (WhatsApp in particular):
- `create_request(session, *, text, channel, customer_id=None, phone=None, created_by=None, source_ref=None)`
- `classify_request(session, request_id)` (what the Celery task "support.classify_request" runs)
- `route_request(session, request_id)`
Every function takes a session and leaves the commit to the caller unless its docstring says otherwise.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from typing import Any, Optional

from flask import current_app
from flask_appbuilder.security.sqla.models import Role, User
from sqlalchemy import and_, case, false, func, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, selectinload

from app.models.base import utcnow
from app.models.customers import Customer
from app.models.people import Department, TeamMember
from app.models.support import (
    CALL_CATEGORIES, CALL_OUTCOMES, CALL_STATUSES, PRIORITIES, REQUEST_CHANNELS, REQUEST_STATUSES,
    TICKET_STATUSES, Call, CustomerRequest, Ticket, TicketNote,
)
from app.services import Conflict, InvalidInput, NotFound
from app.services import support_audit  # noqa: F401  (registers the audit trail hooks)
from app.services.classification import classify
from app.services.customers import balance_of, find_by_phone
from app.services.notifications import notify_user
from app.services.outbox import enqueue_after_commit
from app.services.people import (
    DepartmentScope, department_scope, member_for_user, record_activity, roles_that_work, user_may_work,
)
from app.services.phones import try_e164

log = logging.getLogger(__name__)

OPEN_TICKET_STATUSES = ("Open", "In Progress")
OPEN_REQUEST_STATUSES = ("New", "Assigned", "In Progress")

# Routing: (category, urgency) -> (department, priority). One declared table; routing reads nothing else.
ROUTING: dict[tuple[str, str], tuple[str, str]] = {
    ("Charger Faults", "Critical"): ("Technical", "Critical"),
    ("Charger Faults", "High"): ("Technical", "High"),
    ("Charger Faults", "Medium"): ("Maintenance", "Medium"),
    ("Charger Faults", "Low"): ("Maintenance", "Low"),
    ("Payment Issues", "Critical"): ("Hotline", "Critical"),
    ("Payment Issues", "High"): ("Hotline", "High"),
    ("Payment Issues", "Medium"): ("Hotline", "Medium"),
    ("Payment Issues", "Low"): ("Hotline", "Low"),
    ("Complaints", "Critical"): ("Service", "High"),
    ("Complaints", "High"): ("Service", "High"),
    ("Complaints", "Medium"): ("Service", "Medium"),
    ("Complaints", "Low"): ("Service", "Low"),
    ("General Inquiry", "Critical"): ("Hotline", "High"),
    ("General Inquiry", "High"): ("Hotline", "Medium"),
    ("General Inquiry", "Medium"): ("Hotline", "Low"),
    ("General Inquiry", "Low"): ("Hotline", "Low"),
}

# An escalated call is treated as this urgent: what a caller phones about already hurts.
ESCALATION_URGENCY = {
    "Charger Faults": "High", "Payment Issues": "High", "Complaints": "Medium", "General Inquiry": "Medium",
}

# Ticket lifecycle: (from, to) -> the move's name. The only place that decides what is legal.
TICKET_TRANSITIONS: dict[tuple[str, str], str] = {
    ("Open", "In Progress"): "start",
    ("In Progress", "Resolved"): "resolve",
    ("Resolved", "Closed"): "close",
    ("Resolved", "In Progress"): "reopen",
}


# --- helpers ---------------------------------------------------------------------------


def _get(session: Session, model, obj_id, what: str, lock: bool = False, viewer: Optional[int] = None):
    """Load by id (NotFound otherwise). lock=True first writes to the row, which serialises concurrent
    changes on both databases: a row lock on PostgreSQL, the write lock taken up front on SQLite
    (a read-then-write transaction there fails with "database is locked" instead of waiting).
    viewer: the person acting; a record outside their department scope is NotFound to them."""
    try:
        obj_id = int(obj_id)
    except (TypeError, ValueError):
        raise InvalidInput(f"{what} id must be a number") from None
    if viewer is not None and model in IN_SCOPE:
        scope = department_scope(session, viewer)
        if not scope.everything and session.scalar(
            select(model.id).where(model.id == obj_id, IN_SCOPE[model](scope))
        ) is None:
            raise NotFound(f"{what} {obj_id} not found")
    if lock:
        touched = session.execute(
            update(model).where(model.id == obj_id).values(status=model.status).execution_options(synchronize_session=False)
        )
        if touched.rowcount == 0:
            raise NotFound(f"{what} {obj_id} not found")
        return session.get(model, obj_id, populate_existing=True)
    obj = session.get(model, obj_id)
    if obj is None:
        raise NotFound(f"{what} {obj_id} not found")
    return obj


def _text(value: Any, field: str, required: bool = False, max_len: Optional[int] = None) -> Optional[str]:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidInput(f"{field} is required")
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be text")
    value = value.strip()
    if max_len and len(value) > max_len:
        raise InvalidInput(f"{field} is longer than {max_len} characters")
    return value


def _choice(value: Any, field: str, choices: tuple[str, ...], required: bool = False) -> Optional[str]:
    if value in (None, ""):
        if required:
            raise InvalidInput(f"{field} is required (one of: {', '.join(choices)})")
        return None
    if value not in choices:
        raise InvalidInput(f"{field} must be one of: {', '.join(choices)}")
    return value


def _user_id(session: Session, value: Any, field: str = "assignee_id") -> Optional[int]:
    if value in (None, ""):
        return None
    user = _get(session, User, value, "user")
    if not user.active:
        raise InvalidInput(f"{field}: user {user.username} is not active")
    return user.id


def _department_of(session: Session, user_id: int) -> Optional[int]:
    """The department a person works in: where their work goes when no department is named."""
    member = member_for_user(session, user_id)
    return member.department_id if member else None


def _department_id(session: Session, value: Any) -> Optional[int]:
    if value in (None, ""):
        return None
    return _get(session, Department, value, "department").id


def _charger_id(session: Session, cid: Any, strict: bool = True) -> Optional[int]:
    """A ticket names a registry charger by its OCPP identity; an unknown one is refused (or ignored when not strict)."""
    from app.models.chargers import Charger

    cid = _text(cid, "charger_ref", max_len=60)
    if cid is None:
        return None
    charger_id = session.scalar(select(Charger.id).where(Charger.cid == cid))
    if charger_id is None and strict:
        raise InvalidInput(f"charger_ref: no charger {cid} in the registry")
    return charger_id


def _customer_id(session: Session, value: Any) -> Optional[int]:
    if value in (None, ""):
        return None
    return _get(session, Customer, value, "customer").id


def department_by_name(session: Session, name: str) -> Optional[Department]:
    return session.scalar(select(Department).where(Department.name == name))


def customer_card(session: Session, raw_phone: str) -> Optional[dict]:
    """What the agent sees while logging a call: the customer with this number, and their balance."""
    customer = find_by_phone(session, raw_phone)
    if customer is None:
        return None
    balance = balance_of(session, customer.id)
    return {
        "id": customer.id, "name": customer.name, "phone": customer.phone, "email": customer.email,
        "balance": None if balance is None else str(balance),
        "currency": current_app.config["DEFAULT_CURRENCY"],
    }


# --- department scope ----------------------------------------------------------------------
# Which department a record belongs to: the one it was routed or assigned to; before that, the one
# its category goes to when escalated (ROUTING at ESCALATION_URGENCY): Charger Faults -> Technical,
# Payment Issues and General Inquiry -> Hotline, Complaints -> Service. Who sees what from there is
# app.services.people's department scope.


def category_department(category: Optional[str]) -> Optional[str]:
    """The department an unrouted call, ticket or request of this category belongs to."""
    if category not in ESCALATION_URGENCY:
        return None
    return ROUTING[(category, ESCALATION_URGENCY[category])][0]


def categories_of(department: Optional[str]) -> list[str]:
    return [c for c in CALL_CATEGORIES if department is not None and category_department(c) == department]


def _mine(scope: DepartmentScope, *columns):
    return [column == scope.user_id for column in columns] if scope.user_id is not None else []


def _departments(scope: DepartmentScope, department_column, category_column):
    # routed nowhere and of no category (not classified yet, or opened bare): no department's, so the desk's
    unrouted = and_(department_column.is_(None), category_column.is_(None))
    if scope.department_id is None:
        return [unrouted]
    terms = [unrouted, department_column == scope.department_id]
    categories = categories_of(scope.department)
    if categories:
        terms.append(and_(department_column.is_(None), category_column.in_(categories)))
    return terms


def _scoped(scope: DepartmentScope, capability: str, terms: list):
    if scope.holds(capability):
        return true()
    return or_(*terms) if terms else false()


def calls_in_scope(scope: DepartmentScope):
    """A WHERE clause: the calls this scope sees (logged by or assigned to them, or their department's)."""
    return _scoped(scope, "calls", _mine(scope, Call.agent_id, Call.assignee_id)
                   + _departments(scope, Call.department_id, Call.category))


def tickets_in_scope(scope: DepartmentScope):
    """A WHERE clause: the tickets this scope sees (assigned to or opened by them, or their department's)."""
    return _scoped(scope, "tickets", _mine(scope, Ticket.assignee_id, Ticket.created_by_id)
                   + _departments(scope, Ticket.department_id, Ticket.category))


def requests_in_scope(scope: DepartmentScope):
    """A WHERE clause: the customer requests this scope sees."""
    return _scoped(scope, "requests", _mine(scope, CustomerRequest.assignee_id, CustomerRequest.created_by_id)
                   + _departments(scope, CustomerRequest.assigned_department_id, CustomerRequest.category))


IN_SCOPE = {Call: calls_in_scope, Ticket: tickets_in_scope, CustomerRequest: requests_in_scope}


def scope_clause(session: Session, model, user) -> Any:
    """The WHERE clause of `model` rows that `user` (a User or id) may see: what list screens and APIs filter by."""
    return IN_SCOPE[model](department_scope(session, user))


def get_call(session: Session, call_id: Any, viewer: Optional[int]) -> Call:
    return _get(session, Call, call_id, "call", viewer=viewer)


def get_ticket(session: Session, ticket_id: Any, viewer: Optional[int]) -> Ticket:
    return _get(session, Ticket, ticket_id, "ticket", viewer=viewer)


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


def list_tickets(session: Session, *, status: Optional[str] = None, viewer: Optional[int] = None, limit: int = 100) -> list[Ticket]:
    """Tickets in the viewer's scope, most recently worked first: "open" (Open, In Progress), one status, or all."""
    query = select(Ticket).options(joinedload(Ticket.assignee), joinedload(Ticket.department))
    if status == "open":
        query = query.where(Ticket.status.in_(OPEN_TICKET_STATUSES))
    elif status:
        query = query.where(Ticket.status == _choice(status, "status", TICKET_STATUSES))
    if viewer is not None:
        query = query.where(scope_clause(session, Ticket, viewer))
    return list(session.scalars(query.order_by(Ticket.updated_at.desc(), Ticket.id.desc()).limit(limit)))


# --- workload and routing ----------------------------------------------------------------


def open_workload():
    """Per user id: unresolved tickets + requests assigned to them (a subquery: user_id, load)."""
    tickets = select(Ticket.assignee_id.label("user_id")).where(
        Ticket.status.in_(OPEN_TICKET_STATUSES), Ticket.assignee_id.is_not(None)
    )
    requests = select(CustomerRequest.assignee_id.label("user_id")).where(
        CustomerRequest.status.in_(OPEN_REQUEST_STATUSES), CustomerRequest.assignee_id.is_not(None)
    )
    work = tickets.union_all(requests).subquery()
    return select(work.c.user_id, func.count().label("load")).group_by(work.c.user_id).subquery()


def least_loaded_member(session: Session, department_id: int, works: str = "Ticket") -> Optional[TeamMember]:
    """The active member of the department with the fewest unresolved tickets and requests (lowest id on ties),
    among those whose role may work `works` (a PERMISSION_MATRIX resource): nobody is handed what they cannot open.
    Membership of the department puts the item, routed there, in their scope."""
    load = open_workload()
    may_work = select(User.id).join(User.roles).where(Role.name.in_(roles_that_work(works)))
    return session.scalar(
        select(TeamMember)
        .join(User, User.id == TeamMember.user_id)
        .outerjoin(load, load.c.user_id == TeamMember.user_id)
        .where(TeamMember.department_id == department_id, TeamMember.active.is_(True), User.active.is_(True),
               TeamMember.user_id.in_(may_work))
        .order_by(func.coalesce(load.c.load, 0), TeamMember.id)
        .limit(1)
    )


def _ticket_assignee(session: Session, value: Any) -> Optional[int]:
    """A ticket's assignee must be someone whose role can open tickets."""
    assignee = _user_id(session, value)
    if assignee is not None and not user_may_work(session, assignee, "Ticket"):
        raise InvalidInput(f"assignee_id: user {assignee} cannot work tickets")
    return assignee


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


# --- calls -------------------------------------------------------------------------------------


def log_call(
    session: Session,
    *,
    caller_phone: str,
    category: str,
    agent_id: Optional[int] = None,
    summary: Optional[str] = None,
    charger_ref: Optional[str] = None,
    outcome: Optional[str] = None,
    resolution: Optional[str] = None,
    assignee_id: Any = None,
    department_id: Any = None,
    customer_id: Any = None,
) -> Call:
    """Log a hotline call. The caller's number is normalised to E.164 and matched to the customer
    on its own (unless customer_id is given). Caller commits."""
    raw_phone = _text(caller_phone, "caller_phone", required=True, max_len=40)
    e164 = try_e164(raw_phone)
    if e164 is None:
        raise InvalidInput(f"caller_phone: '{raw_phone}' is not a valid phone number")
    category = _choice(category, "category", CALL_CATEGORIES, required=True)
    outcome = _choice(outcome, "outcome", CALL_OUTCOMES)
    customer = _customer_id(session, customer_id)
    if customer is None:
        found = find_by_phone(session, e164)
        customer = found.id if found else None
    assignee = _user_id(session, assignee_id)
    department = _department_id(session, department_id)
    if department is None and assignee is not None:
        department = _department_of(session, assignee)
    now = utcnow()
    resolved = outcome in ("Resolved on call", "Information given")
    call = Call(
        caller_phone=e164, customer_id=customer, category=category, summary=_text(summary, "summary", max_len=5000) or "",
        charger_ref=_text(charger_ref, "charger_ref", max_len=60), outcome=outcome,
        resolution=_text(resolution, "resolution", max_len=5000), status="Resolved" if resolved else "Open",
        agent_id=agent_id, assignee_id=assignee if assignee is not None else agent_id, department_id=department,
        created_at=now, resolved_at=now if resolved else None,
    )
    call._actor_id = agent_id
    session.add(call)
    session.flush()
    if agent_id is not None:
        record_activity(session, agent_id, "call", f"Logged call #{call.id} ({category})", "call", call.id)
    return call


CALL_EDITABLE = ("category", "summary", "charger_ref", "outcome", "resolution", "status", "assignee_id", "department_id", "customer_id")


def update_call(session: Session, call_id: int, changes: dict, by_user_id: Optional[int]) -> Call:
    """Change a call's outcome, resolution, status, assignment... (audited). Caller commits."""
    call = _get(session, Call, call_id, "call", lock=True, viewer=by_user_id)
    unknown = set(changes) - set(CALL_EDITABLE)
    if unknown:
        raise InvalidInput(f"cannot change: {', '.join(sorted(unknown))}")
    call._actor_id = by_user_id
    if "category" in changes:
        call.category = _choice(changes["category"], "category", CALL_CATEGORIES, required=True)
    if "outcome" in changes:
        call.outcome = _choice(changes["outcome"], "outcome", CALL_OUTCOMES)
    if "status" in changes:
        call.status = _choice(changes["status"], "status", CALL_STATUSES, required=True)
        call.resolved_at = utcnow() if call.status == "Resolved" else call.resolved_at
    for field in ("summary", "resolution"):
        if field in changes:
            setattr(call, field, _text(changes[field], field, max_len=5000) or ("" if field == "summary" else None))
    if "charger_ref" in changes:
        call.charger_ref = _text(changes["charger_ref"], "charger_ref", max_len=60)
    if "assignee_id" in changes:
        call.assignee_id = _user_id(session, changes["assignee_id"])
    if "department_id" in changes:
        call.department_id = _department_id(session, changes["department_id"])
    if "customer_id" in changes:
        call.customer_id = _customer_id(session, changes["customer_id"])
    return call


def escalate_call(session: Session, call_id: int, by_user_id: Optional[int]) -> tuple[Ticket, bool]:
    """Escalate a call to a prefilled ticket linked both ways; idempotent: (ticket, created)."""
    call = _get(session, Call, call_id, "call", lock=True, viewer=by_user_id)
    existing = session.scalar(select(Ticket).where(Ticket.call_id == call.id))
    if existing is not None:
        return existing, False
    department_name, priority = ROUTING[(call.category, ESCALATION_URGENCY[call.category])]
    department_id = call.department_id
    if department_id is None:
        department = department_by_name(session, department_name)
        department_id = department.id if department else None
    # the ticket goes to a member of its department who can work tickets: the call's assignee if they
    # are one, else the least loaded
    assignee_id = call.assignee_id
    if department_id is not None:
        member = session.scalar(select(TeamMember).where(
            TeamMember.user_id == assignee_id, TeamMember.department_id == department_id, TeamMember.active.is_(True)
        )) if assignee_id and user_may_work(session, assignee_id, "Ticket") else None
        if member is None:
            member = least_loaded_member(session, department_id, works="Ticket")
            assignee_id = member.user_id if member else None
    elif assignee_id is not None and not user_may_work(session, assignee_id, "Ticket"):
        assignee_id = None
    caller = call.customer.name if call.customer else call.caller_phone
    description = "\n".join(filter(None, [
        f"Escalated from call #{call.id} on {call.created_at:%Y-%m-%d %H:%M} UTC.",
        f"Caller: {caller} ({call.caller_phone})" if call.caller_phone else None,
        f"Charger: {call.charger_ref}" if call.charger_ref else None,
        call.summary or None,
        f"Resolution so far: {call.resolution}" if call.resolution else None,
    ]))
    savepoint = session.begin_nested()
    try:
        ticket = open_ticket(
            session, title=f"{call.category}: {(call.summary or caller or '')[:150]}".rstrip(": "),
            description=description, priority=priority, category=call.category, customer_id=call.customer_id,
            charger_ref=call.charger_ref, assignee_id=assignee_id, department_id=department_id,
            call_id=call.id, created_by=by_user_id, strict_charger=False,
        )
        savepoint.commit()
    except IntegrityError:  # someone escalated the same call a moment ago
        savepoint.rollback()
        return session.scalar(select(Ticket).where(Ticket.call_id == call.id)), False
    call._actor_id = by_user_id
    call.status = "Escalated"
    call.outcome = "Escalated"
    return ticket, True


def search_calls(
    session: Session,
    *,
    q: Optional[str] = None,
    category: Optional[str] = None,
    agent_id: Optional[int] = None,
    date_from: Optional[date] = None,
    date_to: Optional[date] = None,
    outcome: Optional[str] = None,
    customer_id: Optional[int] = None,
    charger_ref: Optional[str] = None,
    page: int = 0,
    page_size: int = 25,
    viewer: Optional[int] = None,
) -> tuple[list[Call], bool]:
    """Call history, newest first: every word of q must appear in the summary, resolution, phone,
    charger or customer name; the other filters narrow it; date_from..date_to are whole days, both
    included; viewer limits them to that person's department scope. Returns (page of calls, has_next), with
    each call's ticket, customer and agent loaded."""
    query = select(Call).options(selectinload(Call.ticket), joinedload(Call.customer), joinedload(Call.agent))
    if viewer is not None:
        query = query.where(scope_clause(session, Call, viewer))
    if category:
        query = query.where(Call.category == _choice(category, "category", CALL_CATEGORIES))
    if outcome:
        query = query.where(Call.outcome == outcome)
    if agent_id:
        query = query.where(Call.agent_id == int(agent_id))
    if customer_id:
        query = query.where(Call.customer_id == int(customer_id))
    if charger_ref:
        query = query.where(Call.charger_ref == charger_ref.strip())
    if date_from:
        query = query.where(Call.created_at >= datetime.combine(date_from, time.min))
    if date_to:
        query = query.where(Call.created_at < datetime.combine(date_to, time.min) + timedelta(days=1))
    if q:
        for word in q.split()[:8]:
            like = f"%{word}%"
            customers = select(Customer.id).where(Customer.name.ilike(like))
            query = query.where(or_(
                Call.summary.ilike(like), Call.resolution.ilike(like), Call.caller_phone.ilike(like),
                Call.charger_ref.ilike(like), Call.customer_id.in_(customers),
            ))
    page = max(0, int(page))
    rows = list(session.scalars(query.order_by(Call.created_at.desc(), Call.id.desc()).offset(page * page_size).limit(page_size + 1)))
    return rows[:page_size], len(rows) > page_size


# --- tickets ---------------------------------------------------------------------------------


def apply_sla(ticket: Ticket) -> None:
    """Due times (and the warning points before them) from the priority's SLA targets in config."""
    response_min, resolution_min = current_app.config["SUPPORT_SLA_MINUTES"][ticket.priority]
    warn = current_app.config["SUPPORT_SLA_WARN_PERCENT"] / 100
    start = ticket.created_at
    ticket.first_response_due = start + timedelta(minutes=response_min)
    ticket.first_response_warn_at = start + timedelta(minutes=response_min * warn)
    ticket.resolution_due = start + timedelta(minutes=resolution_min)
    ticket.resolution_warn_at = start + timedelta(minutes=resolution_min * warn)


def open_ticket(
    session: Session,
    *,
    title: str,
    description: Optional[str] = "",
    priority: str = "Medium",
    category: Optional[str] = None,
    customer_id: Any = None,
    charger_ref: Optional[str] = None,
    assignee_id: Any = None,
    department_id: Any = None,
    call_id: Optional[int] = None,
    request_id: Optional[int] = None,
    created_by: Optional[int] = None,
    strict_charger: bool = True,
) -> Ticket:
    """Open a ticket with SLA due times; assignment to a member and/or a department (by default the assignee's,
    else the department of a creator who works in one: a field ticket is their department's). Caller commits.
    `charger_ref` is a registry cid; a call's free-text charger (strict_charger=False) stays in the description."""
    assignee = _ticket_assignee(session, assignee_id)
    department = _department_id(session, department_id)
    if department is None and assignee is not None:
        department = _department_of(session, assignee)
    if department is None and assignee is None and created_by is not None:
        creator = department_scope(session, created_by)
        department = None if creator.everything else creator.department_id
    now = utcnow()
    ticket = Ticket(
        title=_text(title, "title", required=True, max_len=200),
        description=_text(description, "description", max_len=10000) or "",
        priority=_choice(priority or "Medium", "priority", PRIORITIES, required=True),
        category=_choice(category, "category", CALL_CATEGORIES), customer_id=_customer_id(session, customer_id),
        charger_id=_charger_id(session, charger_ref, strict_charger), assignee_id=assignee, department_id=department,
        call_id=call_id, request_id=request_id, created_by_id=created_by, status="Open",
        created_at=now, updated_at=now, reopen_count=0,
    )
    apply_sla(ticket)
    ticket._actor_id = created_by
    session.add(ticket)
    session.flush()
    if assignee is not None and assignee != created_by:
        notify_user(
            session, assignee, "support_ticket", f"Ticket #{ticket.id} assigned to you ({ticket.priority})",
            body=ticket.title, link=f"/support/tickets/{ticket.id}", ref_type="ticket", ref_id=ticket.id,
        )
    return ticket


def transition_ticket(
    session: Session, ticket_id: int, to: str, by_user_id: Optional[int], note: Optional[str] = None
) -> Ticket:
    """Move a ticket along TICKET_TRANSITIONS; anything else is a Conflict (409).

    Starting it records the first response; resolving stamps resolved_at; reopening a Resolved
    ticket puts it back In Progress and counts the reopen. Caller commits.
    """
    to = _choice(to, "to", TICKET_STATUSES, required=True)
    ticket = _get(session, Ticket, ticket_id, "ticket", lock=True, viewer=by_user_id)
    move = TICKET_TRANSITIONS.get((ticket.status, to))
    if move is None:
        allowed = [t for (f, t) in TICKET_TRANSITIONS if f == ticket.status]
        raise Conflict(
            f"ticket {ticket.id} is {ticket.status} and cannot move to {to}"
            + (f"; it can move to: {', '.join(allowed)}" if allowed else "; it is closed")
        )
    now = utcnow()
    ticket._actor_id = by_user_id
    if move == "start" and ticket.first_responded_at is None:
        ticket.first_responded_at = now
    elif move == "resolve":
        ticket.resolved_at = now
        ticket.resolve_minutes = int((now - ticket.created_at).total_seconds() // 60)
    elif move == "close":
        ticket.closed_at = now
    elif move == "reopen":
        ticket.reopen_count = (ticket.reopen_count or 0) + 1
        ticket.resolved_at = None
    ticket.status = to
    ticket.updated_at = now
    if note:
        session.add(TicketNote(ticket_id=ticket.id, author_id=by_user_id, body=_text(note, "note", max_len=10000), created_at=now))
    if by_user_id is not None:
        record_activity(session, by_user_id, "ticket", f"Ticket #{ticket.id}: {move} ({to})", "ticket", ticket.id)
    return ticket


TICKET_EDITABLE = ("title", "description", "priority", "category", "customer_id", "charger_ref", "assignee_id", "department_id")


def update_ticket(session: Session, ticket_id: int, changes: dict, by_user_id: Optional[int]) -> Ticket:
    """Change a ticket's fields (every change audited); status only moves through transition_ticket."""
    if "status" in changes:
        raise InvalidInput("status changes go through POST /api/v1/tickets/<id>/transition")
    unknown = set(changes) - set(TICKET_EDITABLE)
    if unknown:
        raise InvalidInput(f"cannot change: {', '.join(sorted(unknown))}")
    ticket = _get(session, Ticket, ticket_id, "ticket", lock=True, viewer=by_user_id)
    ticket._actor_id = by_user_id
    if "title" in changes:
        ticket.title = _text(changes["title"], "title", required=True, max_len=200)
    if "description" in changes:
        ticket.description = _text(changes["description"], "description", max_len=10000) or ""
    if "category" in changes:
        ticket.category = _choice(changes["category"], "category", CALL_CATEGORIES)
    if "charger_ref" in changes:
        ticket.charger_id = _charger_id(session, changes["charger_ref"])
    if "customer_id" in changes:
        ticket.customer_id = _customer_id(session, changes["customer_id"])
    if "priority" in changes:
        priority = _choice(changes["priority"], "priority", PRIORITIES, required=True)
        if priority != ticket.priority:
            ticket.priority = priority
            apply_sla(ticket)
    if "department_id" in changes:
        ticket.department_id = _department_id(session, changes["department_id"])
    if "assignee_id" in changes:
        assignee = _ticket_assignee(session, changes["assignee_id"])
        if assignee != ticket.assignee_id:
            ticket.assignee_id = assignee
            if assignee is not None:
                if "department_id" not in changes:
                    ticket.department_id = _department_of(session, assignee) or ticket.department_id
                notify_user(
                    session, assignee, "support_ticket", f"Ticket #{ticket.id} assigned to you ({ticket.priority})",
                    body=ticket.title, link=f"/support/tickets/{ticket.id}", ref_type="ticket", ref_id=ticket.id,
                )
    ticket.updated_at = utcnow()
    return ticket


def assign_ticket(
    session: Session, ticket_id: int, *, by_user_id: Optional[int], assignee_id: Any = None, department_id: Any = None
) -> Ticket:
    """Assign to a member (their department follows) or to a department (the member is cleared)."""
    if assignee_id in (None, "") and department_id in (None, ""):
        raise InvalidInput("give assignee_id or department_id")
    changes: dict = {}
    if assignee_id not in (None, ""):
        changes["assignee_id"] = assignee_id
    if department_id not in (None, ""):
        changes["department_id"] = department_id
        if assignee_id in (None, ""):
            changes["assignee_id"] = None
    return update_ticket(session, ticket_id, changes, by_user_id)


def add_ticket_note(session: Session, ticket_id: int, body: str, by_user_id: Optional[int]) -> TicketNote:
    """A note on the ticket; the first note by anyone but its creator counts as the first response."""
    ticket = _get(session, Ticket, ticket_id, "ticket", lock=True, viewer=by_user_id)
    now = utcnow()
    note = TicketNote(ticket_id=ticket.id, author_id=by_user_id, body=_text(body, "body", required=True, max_len=10000), created_at=now)
    session.add(note)
    if ticket.first_responded_at is None and by_user_id is not None and by_user_id != ticket.created_by_id:
        ticket.first_responded_at = now
    ticket.updated_at = now
    return note
