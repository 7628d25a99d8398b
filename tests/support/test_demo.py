"""Demo data: months of calls, tickets and requests, fast and idempotent."""
from __future__ import annotations

from sqlalchemy import func, select

from app.demo import support
from app.models.support import Call, CustomerRequest, Ticket


def test_seed_is_fast_realistic_and_idempotent(session):
    support.seed(session, days=90, calls_per_day=40)
    session.commit()
    calls = session.scalar(select(func.count()).select_from(Call))
    support.seed(session, days=90, calls_per_day=40)
    session.commit()
    assert calls == 3600 == session.scalar(select(func.count()).select_from(Call))
    per_category = dict(session.execute(select(Call.category, func.count()).group_by(Call.category)).all())
    assert per_category["Charger Faults"] > per_category["Complaints"] * 2
    first, last = session.execute(select(func.min(Call.created_at), func.max(Call.created_at))).one()
    assert (last - first).days >= 85
    statuses = dict(session.execute(select(Ticket.status, func.count()).group_by(Ticket.status)).all())
    assert statuses["Closed"] > statuses.get("Open", 0) + statuses.get("In Progress", 0)
    assert session.scalar(select(func.count()).select_from(Ticket).where(Ticket.call_id.is_not(None))) > 0
    assert session.scalar(select(func.count()).select_from(CustomerRequest).where(CustomerRequest.classifier == "rules")) == 900
