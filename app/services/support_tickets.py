"""Tickets: opening, the SLA, transitions (`TICKET_TRANSITIONS`), assignment and notes.

Services flush; the caller commits.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Optional

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from app.models.base import utcnow
from app.models.support import (
    CALL_CATEGORIES, PRIORITIES, TICKET_STATUSES, Ticket, TicketNote,
)
from app.services import Conflict, InvalidInput
from app.services.notifications import notify_user
from app.services.activity import record_activity
from app.services.people import department_scope, user_may_work
from app.services.support import (
    OPEN_TICKET_STATUSES, _charger_id, _choice, _customer_id, _department_id, _department_of, _get, _text,
    _user_id, scope_clause,
)


# Ticket lifecycle: (from, to) -> the move's name. The only place that decides what is legal.
TICKET_TRANSITIONS: dict[tuple[str, str], str] = {
    ("Open", "In Progress"): "start",
    ("In Progress", "Resolved"): "resolve",
    ("Resolved", "Closed"): "close",
    ("Resolved", "In Progress"): "reopen",
}


def get_ticket(session: Session, ticket_id: Any, viewer: Optional[int]) -> Ticket:
    return _get(session, Ticket, ticket_id, "ticket", viewer=viewer)


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


def _ticket_assignee(session: Session, value: Any) -> Optional[int]:
    """A ticket's assignee must be someone whose role can open tickets."""
    assignee = _user_id(session, value)
    if assignee is not None and not user_may_work(session, assignee, "Ticket"):
        raise InvalidInput(f"assignee_id: user {assignee} cannot work tickets")
    return assignee


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

