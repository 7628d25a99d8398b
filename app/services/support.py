"""Support desk rules shared by calls, tickets and requests: ROUTING, department scope, input checks.

Calls live in support_calls, tickets in support_tickets, customer requests in support_requests.
Stable entry points other modules build on (WhatsApp in particular), in support_requests:
- `create_request(session, *, text, channel, customer_id=None, phone=None, created_by=None, source_ref=None)`
- `classify_request(session, request_id)` (what the Celery task "support.classify_request" runs)
- `route_request(session, request_id)`
Every function takes a session and leaves the commit to the caller unless its docstring says otherwise.
"""
from __future__ import annotations

import logging
from typing import Any, Optional

from flask import current_app
from flask_appbuilder.security.sqla.models import Role, User
from sqlalchemy import and_, false, func, or_, select, true
from sqlalchemy.orm import Session

from app.models.customers import Customer
from app.models.people import Department, TeamMember
from app.models.support import (
    CALL_CATEGORIES, Call, CustomerRequest, Ticket,
)
from app.services import InvalidInput, NotFound, get_or_404
from app.services import support_audit  # noqa: F401  (registers the audit trail hooks)
from app.services.customers import balance_of, find_by_phone
from app.services.people import (
    DepartmentScope, department_scope, member_for_user, roles_that_work,
)
from app.models.chargers import Charger


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


def _get(session: Session, model, obj_id, what: str, lock: bool = False, viewer: Optional[int] = None):
    """get_or_404, and NotFound too for a record outside the viewer's department scope (the person acting)."""
    if viewer is not None and model in IN_SCOPE:
        scope = department_scope(session, viewer)
        if not scope.everything and session.scalar(
            select(model.id).where(model.id == _whole(obj_id, what), IN_SCOPE[model](scope))
        ) is None:
            raise NotFound(f"{what} {obj_id} not found")
    return get_or_404(session, model, obj_id, what, lock=lock)


def _whole(obj_id, what: str) -> int:
    try:
        return int(obj_id)
    except (TypeError, ValueError):
        raise InvalidInput(f"{what} id must be a whole number, not {obj_id!r}") from None


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

