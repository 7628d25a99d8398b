"""SLA warnings and breaches (beat task), and reminders for untouched work."""
from __future__ import annotations

from datetime import datetime, timedelta

from freezegun import freeze_time
from sqlalchemy import select

from app.models.messaging import Notification
from app.models.support import CustomerRequest
from app.services.support_tickets import add_ticket_note, open_ticket, transition_ticket
from app.services.support_alerts import check_sla, send_reminders
from tests.support.conftest import user_id

T0 = datetime(2026, 3, 1, 8, 0)


def _notes(session, kind=None):
    query = select(Notification.user_id, Notification.kind, Notification.ref_id)
    if kind:
        query = query.where(Notification.kind == kind)
    return session.execute(query.order_by(Notification.id)).all()


def test_sla_notifies_assignee_and_managers_before_and_at_breach_once_each(app, session):
    agent, manager = user_id(session, "agent"), user_id(session, "manager")
    response_min, resolution_min = app.config["SUPPORT_SLA_MINUTES"]["High"]
    with freeze_time(T0):
        ticket = open_ticket(session, title="Payment stuck", priority="High", assignee_id=agent)
        session.commit()
        assert check_sla(session) == 0
    session.execute(Notification.__table__.delete())  # the assignment notice is not under test
    session.commit()
    warn_at = T0 + timedelta(minutes=response_min * 0.8 + 1)
    with freeze_time(warn_at):
        assert check_sla(session) == 1
        assert check_sla(session) == 0  # idempotent
        assert {(u, k) for u, k, _ in _notes(session)} == {(agent, "sla_warning"), (manager, "sla_warning")}
    with freeze_time(T0 + timedelta(minutes=response_min + 1)):
        assert check_sla(session) == 1 and check_sla(session) == 0
        assert len(_notes(session, "sla_breach")) == 2
        transition_ticket(session, ticket.id, "In Progress", agent)
        session.commit()
    with freeze_time(T0 + timedelta(minutes=resolution_min + 5)):
        # resolution warning time has passed as well, but only the breach is news now
        assert check_sla(session) == 1
        breaches = _notes(session, "sla_breach")
        assert len(breaches) == 4 and {r for _, _, r in breaches} == {ticket.id}
    with freeze_time(T0 + timedelta(days=3)):
        assert check_sla(session) == 0


def test_resolved_tickets_raise_no_sla_alerts(app, session):
    with freeze_time(T0):
        ticket = open_ticket(session, title="Quick", priority="Critical")
        transition_ticket(session, ticket.id, "In Progress", None)
        transition_ticket(session, ticket.id, "Resolved", None)
        session.commit()
    with freeze_time(T0 + timedelta(days=2)):
        assert check_sla(session) == 0


def test_sla_beat_task_runs_on_the_worker(app, session, celery_worker):
    from app.tasks.support import check_sla_task

    ticket = open_ticket(session, title="Old", priority="Critical", assignee_id=user_id(session, "agent"))
    ticket.created_at = ticket.created_at - timedelta(days=1)
    from app.services.support_tickets import apply_sla

    apply_sla(ticket)
    session.commit()
    assert check_sla_task.delay().get(timeout=30) == 2  # response and resolution breaches
    assert check_sla_task.delay().get(timeout=30) == 0


def test_reminders_until_someone_acts_without_duplicates(app, session):
    agent = user_id(session, "agent")
    age, interval = app.config["SUPPORT_REMINDER_AGE_MIN"], app.config["SUPPORT_REMINDER_INTERVAL_MIN"]
    with freeze_time(T0):
        ticket = open_ticket(session, title="Follow up", assignee_id=agent)
        # stored directly: no classification task may touch it while the clock is frozen
        request = CustomerRequest(channel="web", text="Where is my refund?", assignee_id=agent, status="Assigned",
                                  created_at=T0, updated_at=T0)
        session.add(request)
        session.commit()
    with freeze_time(T0 + timedelta(minutes=age - 1)):
        assert send_reminders(session) == 0
    with freeze_time(T0 + timedelta(minutes=age + 1)):
        assert send_reminders(session) == 2
        assert send_reminders(session) == 0  # not again within the interval
        assert {(r, k) for _, k, r in _notes(session, "support_reminder")} == {(ticket.id, "support_reminder"), (request.id, "support_reminder")}
    with freeze_time(T0 + timedelta(minutes=age + interval + 2)):
        add_ticket_note(session, ticket.id, "Waiting for the bank", agent)  # someone acted on the ticket
        session.commit()
        assert send_reminders(session) == 1  # only the request, still untouched
    with freeze_time(T0 + timedelta(minutes=age + 2 * interval + 3)):
        transition_ticket(session, ticket.id, "In Progress", agent)
        from app.services.support_requests import set_request_status

        set_request_status(session, request.id, "Resolved", agent)
        session.commit()
        assert send_reminders(session) == 0


def test_reminders_show_in_the_notifications_ui(app, session, web_as):
    agent = user_id(session, "agent")
    with freeze_time(T0):
        open_ticket(session, title="Stale ticket", assignee_id=agent)
        session.commit()
    with freeze_time(T0 + timedelta(days=1)):
        send_reminders(session)
    browser = web_as("agent")
    from flask import url_for

    with app.test_request_context():
        url = url_for("FeedView.feed")
    html = browser.get(url).get_data(as_text=True)
    assert "Reminder: Ticket #" in html
