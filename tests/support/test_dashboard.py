"""The dashboard: figures aggregated in SQL, and the home page per role."""
from __future__ import annotations

import threading

from datetime import datetime, timedelta

from app.models.support import Call, Ticket
from app.services.support_dashboard import dashboard_data
from tests.support.conftest import user_id

NOW = datetime(2026, 3, 15, 12, 0)


def _calls(session, agent, category, when, n):
    session.add_all(Call(caller_phone="+94771234567", category=category, agent_id=agent, created_at=when, summary="") for _ in range(n))


def test_call_volume_per_category_per_day_with_trend(app, session):
    agent = user_id(session, "agent")
    _calls(session, agent, "Charger Faults", NOW - timedelta(days=1), 3)
    _calls(session, agent, "Charger Faults", NOW, 1)
    _calls(session, agent, "Charger Faults", NOW - timedelta(days=20), 2)  # previous period
    _calls(session, agent, "Complaints", NOW - timedelta(days=2), 2)
    _calls(session, agent, "Payment Issues", NOW - timedelta(days=30), 5)  # before both periods
    session.commit()
    calls = dashboard_data(session, now=NOW, days=14)["calls"]
    rows = {r["category"]: r for r in calls["categories"]}
    assert rows["Charger Faults"]["total"] == 4 and rows["Charger Faults"]["previous"] == 2
    assert rows["Charger Faults"]["change_pct"] == 100.0
    assert rows["Charger Faults"]["per_day"][-2:] == [3, 1]
    assert rows["Complaints"]["change_pct"] is None and rows["Payment Issues"]["total"] == 0
    assert len(calls["days"]) == 14 and calls["days"][-1] == "2026-03-15"


def test_ticket_statistics_and_sla_breaches(session):
    def ticket(status, priority, due_in_hours):
        session.add(Ticket(title="t", status=status, priority=priority, created_at=NOW - timedelta(days=1),
                           updated_at=NOW, first_response_due=NOW + timedelta(hours=due_in_hours),
                           resolution_due=NOW + timedelta(hours=due_in_hours), first_responded_at=None))

    ticket("Open", "Critical", -1)       # breached
    ticket("Open", "Critical", 2)
    ticket("In Progress", "High", -5)    # breached
    ticket("Resolved", "Low", -5)        # resolved: not counted as a live breach
    ticket("Closed", "Low", 1)           # not on the dashboard
    session.commit()
    stats = dashboard_data(session, now=NOW, days=14)["tickets"]
    assert stats["grid"]["Open"]["Critical"] == 2 and stats["grid"]["In Progress"]["High"] == 1
    assert stats["grid"]["Resolved"]["Low"] == 1 and stats["totals"] == {"Open": 2, "In Progress": 1, "Resolved": 1}
    assert stats["breaches"]["Critical"]["any"] == 1 and stats["breaches"]["High"]["any"] == 1
    assert stats["breached_total"] == 2


def test_team_performance_counts_and_median(session):
    agent, manager = user_id(session, "agent"), user_id(session, "manager")
    _calls(session, agent, "General Inquiry", NOW - timedelta(days=1), 4)
    _calls(session, manager, "General Inquiry", NOW - timedelta(days=1), 1)
    for minutes in (10, 30, 50, 1000):  # median of four: (30 + 50) / 2
        session.add(Ticket(title="t", status="Resolved", priority="Low", assignee_id=agent, created_at=NOW - timedelta(days=2),
                           updated_at=NOW, resolved_at=NOW - timedelta(days=1), resolve_minutes=minutes))
    session.add(Ticket(title="t", status="Closed", priority="Low", assignee_id=manager, created_at=NOW - timedelta(days=2),
                       updated_at=NOW, resolved_at=NOW - timedelta(days=1), resolve_minutes=90))
    session.add(Ticket(title="old", status="Closed", priority="Low", assignee_id=manager, created_at=NOW - timedelta(days=60),
                       updated_at=NOW, resolved_at=NOW - timedelta(days=59), resolve_minutes=5))
    session.commit()
    team = {r["username"]: r for r in dashboard_data(session, now=NOW, days=14)["team"]}
    assert team["agent"]["calls"] == 4 and team["agent"]["resolved"] == 4 and team["agent"]["median_minutes"] == 40
    assert team["manager"]["calls"] == 1 and team["manager"]["resolved"] == 1 and team["manager"]["median_minutes"] == 90


def test_home_is_the_dashboard_for_support_roles_only(web_as, session):
    from app.models.chargers import Charger

    agent = user_id(session, "agent")
    _calls(session, agent, "Complaints", datetime.utcnow(), 3)
    session.add(Charger(cid="DASH-1", name="Never seen", type="L3", heartbeat_interval=60))  # nothing received: Offline
    session.commit()
    for username in ("agent", "manager", "dispatcher", "admin"):
        html = web_as(username).get("/").get_data(as_text=True)
        assert 'id="support-dashboard"' in html and "Offline: <strong>1</strong>" in html, username
        assert "<svg" in html and "google" not in html.lower()
    html = web_as("agent").get("/").get_data(as_text=True)
    assert 'data-category="Complaints"' in html and "Team performance" in html
    for username in ("finance", "installer", "oem_tata"):
        html = web_as(username).get("/").get_data(as_text=True)
        assert "Welcome" in html and "support-dashboard" not in html, username


def test_dashboard_uses_a_fixed_number_of_queries(app, session, web_as):
    """GROUP BY per figure: more data does not mean more queries."""
    from sqlalchemy import event

    from app.extensions import db

    browser = web_as("manager")
    agent = user_id(session, "agent")

    def count_queries():
        seen = []
        me = threading.get_ident()  # this request's queries, not a background relay's
        listener = lambda *a: threading.get_ident() == me and seen.append(1)  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            assert browser.get("/").status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        return len(seen)

    _calls(session, agent, "Complaints", datetime.utcnow(), 2)
    session.commit()
    few = count_queries()
    _calls(session, agent, "Charger Faults", datetime.utcnow(), 50)
    for i in range(30):
        session.add(Ticket(title="t", status="Resolved", priority="Low", assignee_id=user_id(session, "manager") if i % 2 else agent,
                           created_at=datetime.utcnow(), updated_at=datetime.utcnow(), resolved_at=datetime.utcnow(), resolve_minutes=i))
    session.commit()
    assert count_queries() == few
