"""Who is calling: the customer card of the call screen, with their open tickets and recent calls.

The tickets and calls are the ones the agent may see (their department scope), newest first."""
from __future__ import annotations

from typing import Optional

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.models.support import Call, Ticket
from app.services.phones import try_e164
from app.services.support import OPEN_TICKET_STATUSES, customer_card, scope_clause

RECENT_CALLS = 5
OPEN_TICKETS = 10


def caller_overview(session: Session, raw_phone: str, viewer: Optional[int]) -> dict:
    """{"phone", "customer" (card or None), "tickets" (open), "calls" (recent)} for a typed number."""
    phone = try_e164(raw_phone or "")
    card = customer_card(session, raw_phone or "") if phone else None
    tickets, calls = [], []
    if phone:
        who = [Call.caller_phone == phone] + ([Call.customer_id == card["id"]] if card else [])
        call_query = select(Call).where(or_(*who)).order_by(Call.created_at.desc()).limit(RECENT_CALLS)
        if card:
            ticket_query = (select(Ticket).where(Ticket.customer_id == card["id"], Ticket.status.in_(OPEN_TICKET_STATUSES))
                            .order_by(Ticket.created_at.desc()).limit(OPEN_TICKETS))
            if viewer is not None:
                ticket_query = ticket_query.where(scope_clause(session, Ticket, viewer))
            tickets = list(session.scalars(ticket_query))
        if viewer is not None:
            call_query = call_query.where(scope_clause(session, Call, viewer))
        calls = list(session.scalars(call_query))
    return {"phone": phone, "customer": card, "tickets": tickets, "calls": calls}
