"""SLA warnings and breaches, and reminders for untouched work (both run by beat tasks)."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Optional

from flask import current_app
from sqlalchemy import and_, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.messaging import Notification
from app.models.support import CustomerRequest, SlaAlert, Ticket
from app.security import MANAGER
from app.services.notifications import notify_user
from app.services.people import active_users_with_roles
from app.services.support import OPEN_REQUEST_STATUSES, OPEN_TICKET_STATUSES

REMINDER_KIND = "support_reminder"


def manager_ids(session: Session) -> list[int]:
    return [user.id for user in active_users_with_roles(session, [MANAGER])]


def _sla_stages(now: datetime):
    """(target, stage, condition) for the four notices a ticket can get, each at most once."""
    unanswered = and_(Ticket.status == "Open", Ticket.first_responded_at.is_(None))
    unresolved = Ticket.status.in_(OPEN_TICKET_STATUSES)
    return [
        ("response", "warning", and_(unanswered, Ticket.first_response_warn_at <= now, Ticket.first_response_due > now)),
        ("response", "breach", and_(unanswered, Ticket.first_response_due <= now)),
        ("resolution", "warning", and_(unresolved, Ticket.resolution_warn_at <= now, Ticket.resolution_due > now)),
        ("resolution", "breach", and_(unresolved, Ticket.resolution_due <= now)),
    ]


def check_sla(session: Session, now: Optional[datetime] = None) -> int:
    """Notify the assignee and the managers before and at each SLA breach, once per ticket, target
    and stage (the SlaAlert unique key makes a repeat or a concurrent run a no-op). Commits."""
    now = now or utcnow()
    managers = manager_ids(session)
    sent = 0
    for target, stage, condition in _sla_stages(now):
        already = exists().where(SlaAlert.ticket_id == Ticket.id, SlaAlert.target == target, SlaAlert.stage == stage)
        tickets = session.execute(
            select(Ticket.id, Ticket.title, Ticket.priority, Ticket.assignee_id, Ticket.first_response_due, Ticket.resolution_due)
            .where(condition, ~already).order_by(Ticket.id).limit(1000)
        ).all()
        for ticket in tickets:
            try:
                with session.begin_nested():
                    session.add(SlaAlert(ticket_id=ticket.id, target=target, stage=stage, at=now))
            except IntegrityError:
                continue
            due = ticket.first_response_due if target == "response" else ticket.resolution_due
            what = "first response" if target == "response" else "resolution"
            title = (
                f"SLA breached: {what} of ticket #{ticket.id} ({ticket.priority}) was due {due:%Y-%m-%d %H:%M}"
                if stage == "breach" else
                f"SLA warning: {what} of ticket #{ticket.id} ({ticket.priority}) due {due:%Y-%m-%d %H:%M}"
            )
            for user_id in dict.fromkeys(([ticket.assignee_id] if ticket.assignee_id else []) + managers):
                notify_user(session, user_id, f"sla_{stage}", title, body=ticket.title,
                            link=f"/support/tickets/{ticket.id}", ref_type="ticket", ref_id=ticket.id)
            sent += 1
    session.commit()
    return sent


def send_reminders(session: Session, now: Optional[datetime] = None) -> int:
    """Remind assignees of unresolved tickets and requests nobody touched for SUPPORT_REMINDER_AGE_MIN,
    at most once per SUPPORT_REMINDER_INTERVAL_MIN per item, until someone acts. Commits."""
    now = now or utcnow()
    config = current_app.config
    stale_before = now - timedelta(minutes=config["SUPPORT_REMINDER_AGE_MIN"])
    quiet_since = now - timedelta(minutes=config["SUPPORT_REMINDER_INTERVAL_MIN"])
    sent = 0
    for ref_type, model, statuses, label in (
        ("ticket", Ticket, OPEN_TICKET_STATUSES, "Ticket"),
        ("request", CustomerRequest, OPEN_REQUEST_STATUSES, "Request"),
    ):
        reminded = exists().where(
            Notification.kind == REMINDER_KIND, Notification.ref_type == ref_type, Notification.ref_id == model.id,
            Notification.user_id == model.assignee_id, Notification.created_at > quiet_since,
        )
        text_col = model.title if model is Ticket else model.text
        rows = session.execute(
            select(model.id, model.assignee_id, model.status, model.updated_at, text_col)
            .where(model.status.in_(statuses), model.assignee_id.is_not(None), model.updated_at <= stale_before, ~reminded)
            .order_by(model.id).limit(2000)
        ).all()
        for row in rows:
            hours = int((now - row.updated_at).total_seconds() // 3600)
            note = notify_user(
                session, row.assignee_id, REMINDER_KIND,
                f"Reminder: {label} #{row.id} is {row.status} and untouched for {hours} h",
                body=str(row[4])[:200], link=f"/support/{ref_type}s/{row.id}", ref_type=ref_type, ref_id=row.id,
            )
            note.created_at = now  # the interval is measured on the same clock as `now`
            sent += 1
    session.commit()
    return sent
