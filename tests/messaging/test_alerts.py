"""Notification groups: fan-out to each member's WhatsApp and in-app, de-duplication, the alert
history and its resolution, and the WhatsApp copy of Support desk notifications."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs

from sqlalchemy import func, select

from app.models.base import utcnow
from app.models.messaging import Alert, AlertRecipient, Message, Notification
from app.services.messaging_alerts import alert_group
from app.services.notifications import notify_user
from tests.messaging.conftest import answer_each_send, create_requests, wait_for


def _count(session, model, *where):
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model).where(*where))


def test_alert_fans_out_to_every_member_by_whatsapp_and_in_app(session, twilio, templates, celery_worker):
    answer_each_send(twilio)
    alert = alert_group(session, "cpo_technical", kind="charger_faulted", title="CP-0042 Faulted",
                        body="Connector 1: GroundFailure", ref_type="charger", ref_id="CP-0042",
                        dedupe_key="charger:CP-0042:Faulted")
    session.commit()
    assert {r.user.username for r in alert.recipients} == {"cpo", "installer"}
    assert _count(session, Notification, Notification.ref_type == "alert") == 2
    wait_for(session, lambda: _count(session, Message, Message.status == "queued") == 2, what="fan-out sends")
    sent = sorted(parse_qs(r.get_data(as_text=True))["To"][0] for r in create_requests(twilio))
    assert sent == ["whatsapp:+94771000005", "whatsapp:+94771000006"]  # the members' own numbers
    body = parse_qs(create_requests(twilio)[0].get_data(as_text=True))["Body"][0]
    assert body == "ChargeOps alert: CP-0042 Faulted. Connector 1: GroundFailure"
    session.expire_all()
    statuses = {r.user.username: r.delivery_status for r in session.get(Alert, alert.id).recipients}
    assert statuses == {"cpo": "queued", "installer": "queued"}


def test_a_flapping_charger_alerts_once_per_window(session, templates):
    now = utcnow()
    first = alert_group(session, "cpo_technical", kind="charger_offline", title="CP-7 Offline",
                        dedupe_key="charger:CP-7:Offline", now=now)
    again = alert_group(session, "cpo_technical", kind="charger_offline", title="CP-7 Offline",
                        dedupe_key="charger:CP-7:Offline", now=now + timedelta(minutes=5))
    other = alert_group(session, "cpo_technical", kind="charger_offline", title="CP-8 Offline",
                        dedupe_key="charger:CP-8:Offline", now=now + timedelta(minutes=5))
    session.commit()
    assert first is not None and again is None and other is not None
    assert session.get(Alert, first.id).repeat_count == 1
    assert _count(session, Notification) == 4  # 2 members x 2 alerts, none for the repeat
    later = alert_group(session, "cpo_technical", kind="charger_offline", title="CP-7 Offline",
                        dedupe_key="charger:CP-7:Offline", now=now + timedelta(minutes=31))
    session.commit()
    assert later is not None and _count(session, Alert) == 3


def test_alerts_api_history_and_resolution(session, api_as, templates):
    cpo = api_as("cpo")
    created = cpo.post("/api/v1/alerts/", json={"group": "managers", "kind": "installation_delay",
                                                "title": "Job 17 delayed", "ref_type": "job", "ref_id": 17})
    assert created.status_code == 201, created.json
    assert [r["username"] for r in created.json["recipients"]] == ["manager"]
    alert_id = created.json["id"]
    listed = cpo.get("/api/v1/alerts/")
    assert listed.status_code == 200 and listed.json["count"] == 1
    assert cpo.post("/api/v1/alerts/", json={"group": "nope", "kind": "x", "title": "y"}).status_code == 404
    assert cpo.post("/api/v1/alerts/", json={"kind": "x"}).status_code == 400
    resolved = cpo.post(f"/api/v1/alerts/{alert_id}/resolve", json={"resolution": "Parts arrived"})
    assert resolved.status_code == 200 and resolved.json["resolved_by"] == "cpo"
    assert cpo.post(f"/api/v1/alerts/{alert_id}/resolve", json={}).status_code == 409
    assert api_as("finance").post("/api/v1/alerts/", json={"group": "managers", "kind": "x", "title": "y"}).status_code == 403


def test_alert_page_shows_recipients_and_resolves(session, web_as, templates):
    from tests.conftest import csrf_token

    alert = alert_group(session, "hotline", kind="test", title="Hotline queue over 20")
    session.commit()
    browser = web_as("dispatcher")
    page = browser.get(f"/messaging/alerts/{alert.id}").get_data(as_text=True)
    assert "Hotline queue over 20" in page and "Kasun" in page and "Unresolved" in page
    response = browser.post(f"/messaging/alerts/{alert.id}/resolve",
                            data={"csrf_token": csrf_token(page), "resolution": "Extra agent on shift"})
    assert response.status_code == 302
    session.expire_all()
    assert session.get(Alert, alert.id).resolution == "Extra agent on shift"


def test_sla_breach_notifications_also_go_to_whatsapp(session, twilio, templates, celery_worker):
    from flask_appbuilder.security.sqla.models import User

    answer_each_send(twilio)
    manager = session.scalar(select(User).where(User.username == "manager"))
    notify_user(session, manager.id, "sla_breach", "SLA breached: ticket #4", body="Charger down")
    notify_user(session, manager.id, "support_request", "New request #5")  # in-app only
    session.commit()
    wait_for(session, lambda: _count(session, Message, Message.status == "queued") == 1, what="WhatsApp copy")
    message = session.scalar(select(Message))
    assert message.to_addr == "+94771000002" and message.recipient_user_id == manager.id
    assert message.body == "ChargeOps alert: SLA breached: ticket #4. Charger down"
    assert _count(session, Notification) == 2 and len(create_requests(twilio)) == 1


def test_support_sla_check_sends_whatsapp_to_the_managers(session, twilio, templates, celery_worker):
    """The Support desk's own beat task, unchanged, now reaches managers on WhatsApp."""
    from app.services.support_tickets import open_ticket
    from app.services.support_alerts import check_sla

    answer_each_send(twilio)
    ticket = open_ticket(session, title="Charger CP-9 down", priority="Critical")
    session.commit()
    assert check_sla(session, now=ticket.created_at + timedelta(hours=5)) >= 1
    wait_for(session, lambda: _count(session, Message, Message.to_addr == "+94771000002", Message.status == "queued") >= 1,
             what="SLA WhatsApp")
    assert _count(session, AlertRecipient) == 0


def test_charger_fault_alerts_the_cpo_group_once_per_window(session, templates):
    from app.services.chargers_alerts import alert_charger_status

    now = utcnow()
    first = alert_charger_status(session, "CP-0042", "Faulted", error_code="GroundFailure", now=now)
    flaps = [alert_charger_status(session, "CP-0042", "Faulted", now=now + timedelta(minutes=m)) for m in (1, 2, 3)]
    offline = alert_charger_status(session, "CP-0042", "Offline", now=now + timedelta(minutes=4))
    session.commit()
    assert first.title == "Charger CP-0042 is Faulted" and first.body == "error GroundFailure"
    assert first.group.code == "cpo_technical" and flaps == [None, None, None] and offline is not None
    assert session.get(Alert, first.id).repeat_count == 3
