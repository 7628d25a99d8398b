"""Hotline calls: logging, editing, searching and escalating a call to a ticket.

Services flush; the caller commits.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any, Optional

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, selectinload

from app.models.base import utcnow
from app.models.customers import Customer
from app.models.people import TeamMember
from app.models.support import (
    CALL_CATEGORIES, CALL_OUTCOMES, CALL_STATUSES, Call, Ticket,
)
from app.services import InvalidInput
from app.services.customers import find_by_phone
from app.services.activity import record_activity
from app.services.people import user_may_work
from app.services.phones import try_e164
from app.services.support import (
    ESCALATION_URGENCY, ROUTING, _choice, _customer_id, _department_id, _department_of, _get, _text,
    _user_id, department_by_name, least_loaded_member, scope_clause,
)
from app.services.support_tickets import open_ticket


def get_call(session: Session, call_id: Any, viewer: Optional[int]) -> Call:
    return _get(session, Call, call_id, "call", viewer=viewer)


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

