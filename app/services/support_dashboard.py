"""The support dashboard's figures, each one GROUP BY query (never a query per row)."""
from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Optional

from flask import current_app
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import and_, case, func, literal, or_, select, union_all
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.people import TeamMember
from app.models.support import CALL_CATEGORIES, PRIORITIES, Call, Ticket
from app.services.chargers import network_summary
from app.services.support import OPEN_TICKET_STATUSES

DASHBOARD_TICKET_STATUSES = ("Open", "In Progress", "Resolved")


def call_volume(session: Session, start: datetime, days: int) -> dict:
    """Calls per category per day since start, and each category's trend against the previous period.

    One statement: a GROUP BY category per day range, UNION ALL-ed (plus one for the previous period).
    Each part reads a contiguous slice of the (category, created_at) index; grouping by date(created_at)
    instead would compute a date per row and sort them all.
    """
    labels = [(start + timedelta(days=i)).date().isoformat() for i in range(days)]
    parts = []
    for i, label in enumerate(labels + ["previous"]):
        low, high = (start + timedelta(days=i), start + timedelta(days=i + 1)) if label != "previous" else (start - timedelta(days=days), start)
        parts.append(
            select(literal(label).label("day"), Call.category, func.count().label("n"))
            .where(Call.created_at >= low, Call.created_at < high).group_by(Call.category)
        )
    series = {category: dict.fromkeys(labels, 0) for category in CALL_CATEGORIES}
    previous: dict[str, int] = {}
    for label, category, count in session.execute(union_all(*parts)).all():
        if label == "previous":
            previous[category] = count
        elif category in series:
            series[category][label] = count
    rows = []
    for category in CALL_CATEGORIES:
        total, before = sum(series[category].values()), previous.get(category, 0)
        change = None if before == 0 else round((total - before) * 100 / before, 1)
        rows.append({"category": category, "per_day": [series[category][d] for d in labels], "total": total,
                     "previous": before, "change_pct": change})
    peak = max([max(r["per_day"]) for r in rows] + [1])
    return {"days": labels, "categories": rows, "peak": peak, "total": sum(r["total"] for r in rows),
            "previous_total": sum(r["previous"] for r in rows)}


def ticket_statistics(session: Session, now: datetime) -> dict:
    """Open / In Progress / Resolved counts by priority, and SLA breaches of unresolved tickets."""
    counts = session.execute(
        select(Ticket.status, Ticket.priority, func.count()).where(Ticket.status.in_(DASHBOARD_TICKET_STATUSES))
        .group_by(Ticket.status, Ticket.priority)
    ).all()
    grid = {status: dict.fromkeys(PRIORITIES, 0) for status in DASHBOARD_TICKET_STATUSES}
    for status, priority, count in counts:
        if priority in grid[status]:
            grid[status][priority] = count
    response_late = and_(Ticket.first_responded_at.is_(None), Ticket.first_response_due < now)
    resolution_late = Ticket.resolution_due < now
    breaches = session.execute(
        select(
            Ticket.priority,
            func.sum(case((response_late, 1), else_=0)),
            func.sum(case((resolution_late, 1), else_=0)),
            func.sum(case((or_(response_late, resolution_late), 1), else_=0)),
        ).where(Ticket.status.in_(OPEN_TICKET_STATUSES)).group_by(Ticket.priority)
    ).all()
    breached = {p: {"response": 0, "resolution": 0, "any": 0} for p in PRIORITIES}
    for priority, response, resolution, either in breaches:
        if priority in breached:
            breached[priority] = {"response": int(response or 0), "resolution": int(resolution or 0), "any": int(either or 0)}
    totals = {status: sum(grid[status].values()) for status in DASHBOARD_TICKET_STATUSES}
    return {"grid": grid, "totals": totals, "breaches": breached,
            "breached_total": sum(b["any"] for b in breached.values()), "peak": max([*totals.values(), 1])}


def team_performance(session: Session, start: datetime, end: Optional[datetime] = None) -> list[dict]:
    """Per agent in [start, end): calls handled, tickets resolved, median minutes to resolve."""
    end = end or datetime(9999, 1, 1)
    # one count per team member over the (agent_id, created_at) index, UNION ALL-ed: a GROUP BY agent_id
    # would read every call of the period (or, planned badly, every call there is)
    members = list(session.scalars(select(TeamMember.user_id).order_by(TeamMember.user_id)))
    calls = {}
    if members:
        parts = [
            select(literal(user_id).label("agent"), func.count().label("n"))
            .where(Call.agent_id == user_id, Call.created_at >= start, Call.created_at < end)
            for user_id in members
        ]
        calls = {user_id: n for user_id, n in session.execute(union_all(*parts)).all() if n}
    # "+ 0": partitioning by an expression keeps SQLite on the resolved_at index
    assignee = Ticket.assignee_id + 0
    ranked = (
        select(
            assignee.label("user_id"), Ticket.resolve_minutes.label("minutes"),
            func.row_number().over(partition_by=assignee, order_by=Ticket.resolve_minutes).label("rn"),
            func.count().over(partition_by=assignee).label("n"),
        ).where(Ticket.resolved_at >= start, Ticket.resolved_at < end, Ticket.resolve_minutes.is_not(None))
    ).subquery()
    middle = ranked.c.rn.in_([(ranked.c.n + 1) // 2, (ranked.c.n + 2) // 2])
    resolved = {
        user_id: (n, median) for user_id, n, median in session.execute(
            select(ranked.c.user_id, func.max(ranked.c.n), func.avg(case((middle, ranked.c.minutes))))
            .group_by(ranked.c.user_id)
        ).all() if user_id is not None
    }
    ids = set(calls) | set(resolved)
    if not ids:
        return []
    names = {u.id: (f"{u.first_name} {u.last_name}", u.username) for u in session.execute(
        select(User.id, User.first_name, User.last_name, User.username).where(User.id.in_(ids))
    ).all()}
    rows = []
    for user_id in ids:
        n, median = resolved.get(user_id, (0, None))
        name, username = names.get(user_id, (f"user {user_id}", ""))
        rows.append({"user_id": user_id, "name": name, "username": username, "calls": calls.get(user_id, 0),
                     "resolved": int(n or 0), "median_minutes": None if median is None else round(float(median))})
    rows.sort(key=lambda r: (-r["calls"] - r["resolved"], r["name"]))
    return rows


def dashboard_data(session: Session, now: Optional[datetime] = None, days: Optional[int] = None) -> dict:
    now = now or utcnow()
    days = days or current_app.config["SUPPORT_DASHBOARD_DAYS"]
    start = datetime.combine(now.date() - timedelta(days=days - 1), time.min)
    return {
        "since": start, "days": days,
        "calls": call_volume(session, start, days),
        "tickets": ticket_statistics(session, now),
        "team": team_performance(session, start),
        "chargers": network_summary(session),
    }


def format_minutes(minutes: Optional[int]) -> str:
    if minutes is None:
        return "–"
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} d"
