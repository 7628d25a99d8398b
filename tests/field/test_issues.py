"""The issue tracker: faults and Offline alerts open one issue per charger, repeats add to it, a cleared
fault is noted; the declared transitions; reminders and escalation once per interval until resolved."""
from __future__ import annotations

import io
from datetime import datetime, timedelta

from freezegun import freeze_time
from sqlalchemy import func, select

from app.models.field import ChargerIssue, IssueNote
from app.models.messaging import Notification
from app.models.support import SupportAudit, Ticket
from app.services.field_issues import ISSUE_TRANSITIONS, open_issue, record_charger_event, send_issue_reminders, transition_issue
from tests.field.conftest import user_id, wait_for

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _issues(session):
    return session.scalars(select(ChargerIssue)).all()


def test_a_fault_opens_one_issue_a_repeat_adds_to_it_and_clearing_notes_it(session, make_charger, ingest, fleet, celery_worker):
    make_charger("ISS-1")
    f = fleet(["ISS-1"], boot=True)
    f.fault("ISS-1", 1, "GroundFailure")
    assert wait_for(session, lambda: len(_issues(session)) == 1, timeout=30)
    issue = _issues(session)[0]
    assert issue.status == "Open" and issue.source == "fault" and issue.priority == "High" and issue.occurrences == 1
    f.recover("ISS-1", 1)
    cleared = lambda: session.scalar(select(IssueNote).where(IssueNote.issue_id == issue.id, IssueNote.kind == "fault_cleared"))
    assert wait_for(session, cleared, timeout=30)
    f.fault("ISS-1", 1, "HighTemperature")  # a new episode on the same charger: the same issue
    assert wait_for(session, lambda: session.get(ChargerIssue, issue.id, populate_existing=True).occurrences == 2, timeout=30)
    assert len(_issues(session)) == 1
    kinds = [n.kind for n in session.get(ChargerIssue, issue.id).notes]
    assert kinds == ["fault", "fault_cleared", "fault"]


def test_an_offline_alert_adds_to_the_open_issue_and_a_resolved_one_is_not_reused(session, make_charger):
    charger = make_charger("ISS-2")
    first = record_charger_event(session, charger.id, "charger_offline", "no message")
    again = record_charger_event(session, charger.id, "charger_faulted", "connector 1: Faulted")
    session.commit()
    assert first.id == again.id and again.occurrences == 2 and first.priority == "Medium"
    transition_issue(session, first.id, "Resolved", None)
    session.commit()
    assert record_charger_event(session, charger.id, "fault_cleared", "") is None  # nothing open: nothing to note
    fresh = record_charger_event(session, charger.id, "charger_offline", "again")
    session.commit()
    assert fresh.id != first.id and len(_issues(session)) == 2


def test_api_creates_moves_along_the_declared_table_and_audits(api_as, session, make_charger):
    make_charger("ISS-3", type="L3")
    api = api_as("cpo")
    installer = user_id(session, "installer")
    created = api.post("/api/v1/issues/", json={"charger_cid": "ISS-3", "title": "Cable damaged", "priority": "Critical",
                                               "assignee_id": installer})
    assert created.status_code == 201, created.json
    pk = created.json["id"]
    assert created.json["result"]["charger_cid"] == "ISS-3" and created.json["result"]["status"] == "Open"
    assert api.post("/api/v1/issues/", json={"charger_cid": "ISS-3", "title": "x", "priority": "Urgent"}).status_code == 400
    assert api.post("/api/v1/issues/", json={"charger_cid": "NOPE", "title": "x"}).status_code == 404
    assert api.post(f"/api/v1/issues/{pk}/transition", json={"to": "Closed"}).status_code == 409
    for to in ("In Progress", "Resolved", "Closed"):
        moved = api.post(f"/api/v1/issues/{pk}/transition", json={"to": to})
        assert moved.status_code == 200 and moved.json["result"]["status"] == to
    assert api.post(f"/api/v1/issues/{pk}/transition", json={"to": "Open"}).status_code == 409
    assert ("Open", "In Progress") in ISSUE_TRANSITIONS
    statuses = session.scalars(select(SupportAudit.new_value).where(
        SupportAudit.entity == "issue", SupportAudit.entity_id == pk, SupportAudit.field == "status")).all()
    assert statuses == ["In Progress", "Resolved", "Closed"]
    listed = api.get("/api/v1/issues/?status=Closed").json
    assert listed["count"] == 1 and listed["result"][0]["id"] == pk
    # the assignee was told
    assert session.scalar(select(Notification).where(Notification.user_id == installer, Notification.kind == "issue_assigned"))
    assert api_as("agent").post("/api/v1/issues/", json={"charger_cid": "ISS-3", "title": "x"}).status_code == 403
    assert api_as("finance").get("/api/v1/issues/").status_code == 403


def test_a_note_with_a_photo_is_stored_outside_the_web_root_and_served_to_the_role(app, api_as, web_as, session, make_charger):
    make_charger("ISS-4")
    api = api_as("installer")
    pk = api.post("/api/v1/issues/", json={"charger_cid": "ISS-4", "title": "Screen cracked"}).json["id"]
    sent = api.post(f"/api/v1/issues/{pk}/notes", data={"body": "Photo of the screen", "photo": (io.BytesIO(PNG), "s.png")},
                    content_type="multipart/form-data")
    assert sent.status_code == 201, sent.json
    photo_id = sent.json["photos"][0]
    assert api.post(f"/api/v1/issues/{pk}/notes", data={"body": "x", "photo": (io.BytesIO(b"MZ..."), "a.exe")},
                    content_type="multipart/form-data").status_code == 400
    browser = web_as("installer")
    got = browser.get(f"/field/issues/photos/{photo_id}")
    assert got.status_code == 200 and got.data == PNG and got.mimetype == "image/png"
    assert web_as("finance").get(f"/field/issues/photos/{photo_id}").status_code == 403


def test_one_click_turns_an_issue_into_a_customer_ticket_and_back(api_as, session, make_charger):
    make_charger("ISS-5")
    api = api_as("dispatcher")
    pk = api.post("/api/v1/issues/", json={"charger_cid": "ISS-5", "title": "Does not start", "priority": "High"}).json["id"]
    ticket_id = api.post(f"/api/v1/issues/{pk}/ticket").json["ticket_id"]
    assert api.post(f"/api/v1/issues/{pk}/ticket").json["ticket_id"] == ticket_id  # once
    ticket = session.get(Ticket, ticket_id)
    assert ticket.charger.cid == "ISS-5" and ticket.charger_ref == "ISS-5" and ticket.priority == "High"
    # and a customer ticket about a charger becomes a charger issue
    other = api.post("/api/v1/tickets/", json={"title": "Customer: charger ISS-5 stuck", "charger_ref": "ISS-5"}).json["id"]
    assert api.post("/api/v1/tickets/", json={"title": "x", "charger_ref": "NOT-REGISTERED"}).status_code == 400
    from app.services.field_issues import ticket_to_issue

    issue = ticket_to_issue(session, other, user_id(session, "dispatcher"))
    session.commit()
    assert issue.ticket_id == other and issue.charger.cid == "ISS-5" and issue.source == "ticket"


def test_reminders_fire_once_per_interval_until_resolved(app, session, make_charger):
    charger = make_charger("ISS-6")
    installer = user_id(session, "installer")
    t0 = datetime(2026, 3, 2, 8, 0, 0)
    with freeze_time(t0):
        issue = open_issue(session, charger_cid=charger.cid, title="Leaking coolant", priority="High", assignee_id=installer)
        session.commit()
    remind = app.config["FIELD_ISSUE_REMINDER_MIN"]["High"]  # 120
    escalate = app.config["FIELD_ISSUE_ESCALATION_MIN"]["High"]  # 240

    def count(kind):
        return session.scalar(select(func.count()).select_from(Notification).where(Notification.kind == kind,
                                                                                   Notification.ref_id == issue.id))

    for minutes, reminders in ((remind - 1, 0), (remind + 1, 1), (remind + 5, 1), (2 * remind + 1, 2), (2 * remind + 30, 2)):
        with freeze_time(t0 + timedelta(minutes=minutes)):
            send_issue_reminders(session)
            session.commit()
        assert count("issue_reminder") == reminders, minutes
    # escalation to the CPO: once the escalation interval passed, once per interval
    cpo = user_id(session, "cpo")
    assert count("issue_escalation") >= 1
    assert session.scalar(select(Notification.user_id).where(Notification.kind == "issue_escalation")) == cpo
    escalations = count("issue_escalation")
    with freeze_time(t0 + timedelta(minutes=escalate + 10)):
        send_issue_reminders(session)
        session.commit()
    assert count("issue_escalation") == escalations
    transition_issue(session, issue.id, "Resolved", installer)
    session.commit()
    with freeze_time(t0 + timedelta(minutes=10 * escalate)):
        assert send_issue_reminders(session) == {"reminders": 0, "escalations": 0}
