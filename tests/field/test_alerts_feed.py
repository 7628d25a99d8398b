"""Alerts people act on: a mass offline event is one alert; the feed API; push subscriptions; broadcasts."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.models.base import utcnow
from app.models.chargers import Charger
from app.models.field import Broadcast, PushDelivery, PushSubscription
from app.models.messaging import Notification
from app.services.chargers_health import sweep_offline
from app.services.field_alerts import offline_alerts
from app.services import InvalidInput
from app.services.notifications import broadcast, notify
from tests.field.conftest import user_id


def _online(session, cids, site, offline_after):
    for cid in cids:
        session.add(Charger(cid=cid, name=cid, type="L2", site=site, offline=False, offline_after=offline_after))
    session.commit()


def test_many_chargers_going_offline_at_once_is_one_alert_with_the_count_and_the_list(session):
    now = utcnow()
    _online(session, [f"MASS-{i:02d}" for i in range(8)], "Colombo Port", now - timedelta(seconds=5))
    crossed = sweep_offline(session, now=now)
    assert len(crossed) == 8
    assert offline_alerts(session, crossed, now=now) == []  # nobody is alerted one by one
    session.commit()
    notes = session.scalars(select(Notification).where(Notification.kind == "network_offline")).all()
    cpo = user_id(session, "cpo")
    mine = [n for n in notes if n.user_id == cpo]
    assert len(mine) == 1 and mine[0].title == "8 chargers went offline (site Colombo Port)"
    assert "MASS-00" in mine[0].body and "MASS-07" in mine[0].body


def test_one_charger_going_offline_is_alerted_on_its_own(session):
    now = utcnow()
    _online(session, ["SOLO-1"], None, now - timedelta(seconds=5))
    crossed = sweep_offline(session, now=now)
    assert offline_alerts(session, crossed, now=now) == crossed


def test_the_feed_api_is_the_callers_own_newest_first(api_as, session):
    agent, cpo = user_id(session, "agent"), user_id(session, "cpo")
    for n in range(3):
        notify(session, [agent], "test", f"For the agent {n}")
    notify(session, [cpo], "test", "For the CPO")
    session.commit()
    api = api_as("agent")
    feed = api.get("/api/v1/notifications/").json
    assert [n["title"] for n in feed["result"]] == ["For the agent 2", "For the agent 1", "For the agent 0"]
    assert feed["unread"] == 3
    first = feed["result"][0]["id"]
    assert api.post(f"/api/v1/notifications/{first}/read").json["unread"] == 2
    assert [n["title"] for n in api.get("/api/v1/notifications/?unread=1").json["result"]] == ["For the agent 1", "For the agent 0"]
    cpo_note = session.scalar(select(Notification.id).where(Notification.user_id == cpo))
    assert api.post(f"/api/v1/notifications/{cpo_note}/read").status_code == 404  # not the caller's
    assert api.post("/api/v1/notifications/read-all").json["marked"] == 2


def test_push_subscriptions_are_stored_and_every_push_is_queued_per_subscription(api_as, session, session_relay_paused):
    """What is asserted is the queued delivery, before any worker takes it: the session's relay
    (started by an earlier test that needed a worker) is held for this one."""
    api = api_as("installer")
    body = {"endpoint": "https://push.example.net/send/abc", "keys": {"p256dh": "BPk" + "x" * 80, "auth": "k" * 22}}
    assert api.post("/api/v1/push/subscriptions", json=body).status_code == 201
    assert api.post("/api/v1/push/subscriptions", json=body).status_code == 200  # the same endpoint once
    assert api.post("/api/v1/push/subscriptions", json={"endpoint": "http://insecure", "keys": {}}).status_code == 400
    assert session.scalar(select(func.count()).select_from(PushSubscription)) == 1
    installer = user_id(session, "installer")
    notify(session, [installer], "test", "Go to CP-7", channels=("inapp", "push"))
    session.commit()
    delivery = session.scalar(select(PushDelivery))
    assert delivery.status == "pending" and delivery.title == "Go to CP-7"


def test_a_broadcast_reaches_everyone_with_the_role_on_the_chosen_channels(session, web_as):
    from tests.conftest import csrf_token

    browser = web_as("manager")
    token = csrf_token(browser.get("/field/broadcast/").get_data(as_text=True))
    sent = browser.post("/field/broadcast/send", data={"target": "role:Installer", "title": "Storm warning",
                                                        "body": "Stay off the roofs today", "channel": ["inapp", "push"],
                                                        "csrf_token": token})
    assert sent.status_code == 302
    record = session.scalar(select(Broadcast))
    assert record.role == "Installer" and record.recipients >= 1 and record.channels == "inapp,push"
    installer = user_id(session, "installer")
    assert session.scalar(select(Notification).where(Notification.user_id == installer, Notification.kind == "broadcast"))
    assert session.scalar(select(func.count()).select_from(Notification).where(Notification.kind == "broadcast")) == record.recipients
    with pytest.raises(InvalidInput, match="either"):
        broadcast(session, title="x", body="y", group_code="cpo_technical", role="CPO")
    assert web_as("agent").get("/field/broadcast/").status_code == 403
