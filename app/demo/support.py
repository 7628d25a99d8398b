"""Support demo data for `flask seed-demo` (idempotent): months of calls, tickets and requests.

Bulk inserts (Core executemany), realistic shapes: more calls in the day than at night and on
weekdays than on Sundays, charger faults and payments dominate, older tickets are closed, recent
ones still open. bench/desk.py reuses the same generators for its million calls.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Iterator, Optional

from flask import current_app
from sqlalchemy import insert, literal, select, update
from sqlalchemy.orm import Session

from flask_appbuilder.security.sqla.models import Role, User

from app.models.base import utcnow
from app.models.chargers import Charger
from app.models.customers import Customer
from app.models.people import Department, TeamMember
from app.models.support import Call, CustomerRequest, SupportAudit, Ticket
from app.security import SUPPORT_ROLES
from app.services.classification import classify_by_rules
from app.services.support import ROUTING

CATEGORY_WEIGHTS = {"Charger Faults": 36, "Payment Issues": 30, "General Inquiry": 24, "Complaints": 10}
PRIORITY_WEIGHTS = {"Critical": 5, "High": 20, "Medium": 45, "Low": 30}
# median minutes to resolve per priority (the spread is log-normal around it)
RESOLVE_MEDIAN = {"Critical": 150, "High": 360, "Medium": 1000, "Low": 2400}
# calls per hour of the local day (Colombo, UTC+5:30), 0..23
HOURLY = [1, 1, 0, 0, 1, 2, 5, 9, 12, 13, 12, 11, 10, 11, 12, 12, 11, 10, 9, 8, 6, 4, 3, 2]
LOCAL_OFFSET = timedelta(hours=5, minutes=30)

SUMMARIES = {
    "Charger Faults": [
        "Charger {c} does not start the session", "Connector stuck after charging at {c}", "Screen blank on {c}",
        "{c} shows error E-{n}", "Session stopped halfway at {c}", "RFID card not read at {c}", "{c} offline since morning",
    ],
    "Payment Issues": [
        "Charged twice for one session at {c}", "Top-up of LKR {n}0 not credited to wallet", "Card declined at {c}",
        "Refund requested for failed session", "Wallet balance wrong after top-up", "Invoice missing for last month",
    ],
    "General Inquiry": [
        "Where is the nearest fast charger to Kandy?", "How to register a new RFID card", "Tariff for DC charging",
        "Opening hours of the {c} site", "Can I reserve a charger?", "How to change the phone number on my account",
    ],
    "Complaints": [
        "Rude security staff at {c} site", "Charger bay blocked by a petrol car at {c}", "Waited 40 minutes for support",
        "Site {c} dirty and poorly lit", "Unacceptable downtime at {c} this week",
    ],
}
REQUEST_TEXTS = [
    "Hi, the charger {c} is not working and I am stranded, please help urgently",
    "I was charged twice yesterday at {c}, please refund",
    "My wallet top-up did not show up, balance still zero",
    "What are your charging rates for the DC chargers?",
    "I want to complain about the staff at {c}, very rude",
    "The connector is stuck in my car at {c}, cannot leave",
    "How can I get an RFID card?",
    "Station {c} shows an error every time I plug in",
    "Terrible service, waited an hour and nobody answered",
    "Can I pay with Amex at {c}?",
]
OUTCOME_WEIGHTS = {"Resolved on call": 45, "Information given": 25, "Callback needed": 15, "Escalated": 12, "Dropped": 3}


def _weighted(rng: random.Random, weights: dict) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _moment(rng: random.Random, day: datetime) -> datetime:
    local_hour = rng.choices(range(24), weights=HOURLY)[0]
    local = day.replace(hour=local_hour, minute=rng.randrange(60), second=rng.randrange(60))
    return local - LOCAL_OFFSET


def _charger(rng: random.Random, chargers: Optional[list[str]] = None) -> str:
    """A charger the caller names: one of the registry's when given (the demo), else a made-up id (bench)."""
    if chargers:
        return rng.choice(chargers)
    return f"CP-{rng.choice(['COL', 'KAN', 'GAL', 'NEG', 'KUR', 'JAF'])}-{rng.randrange(1, 60):03d}"


def call_rows(
    rng: random.Random, count: int, start: datetime, end: datetime, agent_ids: list[int], customers: list[tuple[int, str]],
    chargers: Optional[list[str]] = None,
) -> Iterator[dict]:
    """`count` calls spread over [start, end), weekdays busier than Sundays, daytime busier than night."""
    days = max(1, (end - start).days)
    day_weights = [0.6 if (start + timedelta(days=i)).weekday() == 6 else 1.0 for i in range(days)]
    day_picks = rng.choices(range(days), weights=day_weights, k=count)
    sla_now = end
    for i in range(count):
        day = start + timedelta(days=day_picks[i])
        created = _moment(rng, day)
        category = _weighted(rng, CATEGORY_WEIGHTS)
        charger = _charger(rng, chargers) if category in ("Charger Faults", "Payment Issues", "Complaints") and rng.random() < 0.7 else None
        summary = rng.choice(SUMMARIES[category]).format(c=charger or "the site", n=rng.randrange(10, 99))
        known = customers and rng.random() < 0.75
        customer_id, phone = (rng.choice(customers) if known else (None, f"+9477{rng.randrange(1000000, 9999999)}"))
        outcome = _weighted(rng, OUTCOME_WEIGHTS) if created < sla_now - timedelta(hours=2) else rng.choice([None, "Callback needed"])
        resolved = outcome in ("Resolved on call", "Information given")
        agent = rng.choice(agent_ids) if agent_ids else None
        yield {
            "caller_phone": phone, "customer_id": customer_id, "category": category, "charger_ref": charger,
            "summary": summary, "outcome": outcome, "resolution": "Guided the caller" if resolved else None,
            "status": "Resolved" if resolved else ("Escalated" if outcome == "Escalated" else "Open"),
            "agent_id": agent, "assignee_id": agent, "department_id": None, "created_at": created,
            "resolved_at": created + timedelta(minutes=rng.randrange(2, 15)) if resolved else None,
        }


def ticket_rows(
    rng: random.Random, count: int, start: datetime, end: datetime, assignee_ids: list[int], department_ids: list[int],
    sla: dict, now: Optional[datetime] = None, chargers: Optional[list[str]] = None,
) -> Iterator[dict]:
    """`count` tickets: the older, the likelier closed; resolution times log-normal per priority."""
    now = now or end
    span = (end - start).total_seconds()
    for _ in range(count):
        created = start + timedelta(seconds=rng.random() * span)
        priority = _weighted(rng, PRIORITY_WEIGHTS)
        category = _weighted(rng, CATEGORY_WEIGHTS)
        response_min, resolution_min = sla[priority]
        minutes = max(5, int(rng.lognormvariate(0, 0.9) * RESOLVE_MEDIAN[priority]))
        responded = created + timedelta(minutes=max(1, int(rng.lognormvariate(0, 0.8) * response_min * 0.6)))
        resolved_at = created + timedelta(minutes=minutes)
        if resolved_at < now - timedelta(days=3):
            status = "Closed"
        elif resolved_at < now:
            status = rng.choice(["Resolved", "Closed"])
        else:
            status = "In Progress" if responded < now else "Open"
        done = status in ("Resolved", "Closed")
        assignee = rng.choice(assignee_ids) if assignee_ids and rng.random() < 0.9 else None
        yield {
            "title": f"{category}: {rng.choice(SUMMARIES[category]).format(c=_charger(rng, chargers), n=rng.randrange(10, 99))}",
            "description": "", "category": category, "priority": priority, "status": status,
            "assignee_id": assignee, "department_id": rng.choice(department_ids) if department_ids else None,
            "created_at": created, "updated_at": resolved_at if done else min(now, responded),
            "first_response_due": created + timedelta(minutes=response_min),
            "first_response_warn_at": created + timedelta(minutes=response_min * 0.8),
            "resolution_due": created + timedelta(minutes=resolution_min),
            "resolution_warn_at": created + timedelta(minutes=resolution_min * 0.8),
            "first_responded_at": responded if responded < now else None,
            "resolved_at": resolved_at if done else None,
            "closed_at": resolved_at + timedelta(days=1) if status == "Closed" else None,
            "resolve_minutes": minutes if done else None,
            "reopen_count": 1 if done and rng.random() < 0.04 else 0,
        }


def bulk_insert(session: Session, model, rows: Iterator[dict], chunk: int = 20000) -> int:
    total, batch = 0, []
    for row in rows:
        batch.append(row)
        if len(batch) >= chunk:
            session.execute(insert(model), batch)
            total += len(batch)
            batch = []
    if batch:
        session.execute(insert(model), batch)
        total += len(batch)
    return total


def seed(session: Session, days: int = 120, calls_per_day: int = 60) -> None:
    """Four months of desk activity, once (skipped when calls already exist)."""
    if session.scalar(select(Call.id).limit(1)) is not None:
        return
    rng = random.Random(4)
    now = utcnow()
    start = (now - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    desk_ids = list(session.scalars(
        select(TeamMember.user_id).join(User, User.id == TeamMember.user_id).join(User.roles)
        .where(TeamMember.active.is_(True), Role.name.in_(SUPPORT_ROLES)).distinct()
    ))
    departments = dict(session.execute(select(Department.name, Department.id)).all())
    customers = [(c.id, c.phone) for c in session.execute(select(Customer.id, Customer.phone).where(Customer.phone.is_not(None))).all()]
    sla = current_app.config["SUPPORT_SLA_MINUTES"]
    chargers = list(session.scalars(select(Charger.cid).where(Charger.unregistered.is_(False)).order_by(Charger.cid)))

    bulk_insert(session, Call, call_rows(rng, days * calls_per_day, start, now, desk_ids, customers, chargers))
    ticket_count = days * calls_per_day // 5
    bulk_insert(session, Ticket, ticket_rows(rng, ticket_count, start, now, desk_ids, list(departments.values()), sla, chargers=chargers))
    # the audit trail's first line for every demo ticket
    session.execute(insert(SupportAudit).from_select(
        ["entity", "entity_id", "field", "new_value", "at"],
        select(literal("ticket"), Ticket.id, literal("created"), literal("Open"), Ticket.created_at),
    ))
    # link the escalated calls to tickets of their category (demo only: one ticket per call)
    escalated = session.execute(select(Call.id, Call.category, Call.customer_id).where(Call.status == "Escalated")).all()
    free = {}
    for ticket_id, category in session.execute(select(Ticket.id, Ticket.category).where(Ticket.call_id.is_(None))).all():
        free.setdefault(category, []).append(ticket_id)
    links = []
    for call in escalated:
        if free.get(call.category):
            links.append({"id": free[call.category].pop(), "call_id": call.id, "customer_id": call.customer_id})
    if links:
        session.execute(update(Ticket), links)  # ORM bulk update by primary key
    request_rows = []
    for _ in range(days * 10):
        created = start + timedelta(seconds=rng.random() * (now - start).total_seconds())
        text = rng.choice(REQUEST_TEXTS).format(c=_charger(rng, chargers))
        result = classify_by_rules(text)
        department, priority = ROUTING[(result.category, result.urgency)]
        old = created < now - timedelta(days=2)
        request_rows.append({
            "channel": _weighted(rng, {"whatsapp": 55, "web": 25, "api": 10, "phone": 10}), "text": text,
            "phone": f"+9477{rng.randrange(1000000, 9999999)}", "category": result.category, "urgency": result.urgency,
            "department": result.department, "summary": result.summary, "confidence": result.confidence,
            "classifier": result.classifier, "classified_at": created + timedelta(seconds=3),
            "assigned_department_id": departments.get(department), "assignee_id": rng.choice(desk_ids) if desk_ids else None,
            "priority": priority, "status": "Resolved" if old else rng.choice(["Assigned", "In Progress"]),
            "assignment_overridden": False, "created_at": created, "updated_at": created + timedelta(hours=1),
        })
    bulk_insert(session, CustomerRequest, iter(request_rows))
