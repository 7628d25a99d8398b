"""Status buckets (each rule, precedence, L2/L3), the network API, offline sweep, alerts, retention."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.models.base import utcnow
from app.models.chargers import Charger, ChargerMessage, Connector
from app.models.messaging import Notification
from app.services import chargers_health
from app.services import chargers
from tests.chargers.conftest import wait_for



@pytest.fixture
def now():
    """The moment the test's chargers were last heard from, relative to; taken when the test starts."""
    return utcnow()


def make(session, now, cid, ctype="L2", seen_ago=10, interval=60, rssi=-60, gap=None, connectors=(("Available", "NoError"),)):
    seen = now - timedelta(seconds=seen_ago) if seen_ago is not None else None
    charger = Charger(
        cid=cid, name=f"Charger {cid}", type=ctype, heartbeat_interval=interval, last_seen=seen, site="Galle Fort",
        offline_after=seen + chargers.offline_threshold(interval) if seen else None, offline=False,
        last_rssi=rssi, last_heartbeat_gap=gap,
    )
    session.add(charger)
    session.flush()
    for n, (status, code) in enumerate(connectors):
        session.add(Connector(charger_id=charger.id, connector_id=n, status=status, error_code=code))
    return charger


@pytest.fixture
def fleet_states(session, now):
    make(session, now, "AVAIL", connectors=(("Available", "NoError"), ("Preparing", "NoError"), ("Unavailable", "NoError")))
    make(session, now, "CHARGE", ctype="L3", connectors=(("Available", "NoError"), ("SuspendedEV", "NoError")))
    make(session, now, "WEAK-RSSI", rssi=-90, connectors=(("Available", "NoError"), ("Charging", "NoError")))
    make(session, now, "WEAK-LATE", gap=91, connectors=(("Available", "NoError"),))  # 91 s > 1.5 x 60 s
    make(session, now, "ONTIME", gap=89)
    make(session, now, "FAULT-0", rssi=-95, connectors=(("Faulted", "NoError"), ("Charging", "NoError")))  # faulted beats weak
    make(session, now, "FAULT-CODE", ctype="L3", connectors=(("Available", "NoError"), ("Available", "GroundFailure")))
    make(session, now, "OFF", seen_ago=181, rssi=-99, connectors=(("Faulted", "OtherError"),))  # offline beats faulted
    make(session, now, "OFF-DEFAULT", seen_ago=299, interval=None)  # unknown interval: 300 s
    make(session, now, "NEVER", seen_ago=None)
    session.commit()


def test_each_bucket_rule_and_their_precedence(session, fleet_states, now):
    rows = {r["cid"]: r["bucket"] for r in chargers.list_network(session, page_size=100, now=now)["result"]}
    assert rows == {
        "AVAIL": "Available", "CHARGE": "Charging", "WEAK-RSSI": "Weak Signal", "WEAK-LATE": "Weak Signal",
        "ONTIME": "Available", "FAULT-0": "Faulted", "FAULT-CODE": "Faulted", "OFF": "Offline",
        "OFF-DEFAULT": "Available", "NEVER": "Offline",
    }
    later = now + timedelta(seconds=2)  # OFF-DEFAULT crosses 300 s
    assert chargers.list_network(session, q="OFF-DEFAULT", now=later)["result"][0]["bucket"] == "Offline"


def test_summary_splits_l2_and_l3(session, fleet_states, now):
    summary = chargers.network_summary(session, now=now)
    assert summary["L2"] == {"Available": 3, "Charging": 0, "Weak Signal": 2, "Offline": 2, "Faulted": 1}
    assert summary["L3"] == {"Available": 0, "Charging": 1, "Weak Signal": 0, "Offline": 0, "Faulted": 1}


def test_network_api_contract(session, api_as, fleet_states, now):
    # the API reads the wall clock: move the one charger a second from its threshold well past it
    session.execute(update(Charger).where(Charger.cid == "OFF-DEFAULT").values(
        last_seen=now - timedelta(seconds=400), offline_after=now - timedelta(seconds=100)))
    session.commit()
    api = api_as("agent")
    summary = api.get("/api/v1/network/summary").json
    assert set(summary) >= {"L2", "L3"} and set(summary["L3"]) == {"Available", "Charging", "Weak Signal", "Offline", "Faulted"}
    listed = api.get("/api/v1/network/chargers?bucket=Faulted&type=L3").json
    assert listed["count"] == 1 and listed["result"][0] == {**listed["result"][0], "cid": "FAULT-CODE", "type": "L3", "bucket": "Faulted", "name": "Charger FAULT-CODE"}
    assert api.get("/api/v1/network/chargers?q=weak").json["count"] == 2
    assert api.get("/api/v1/network/chargers?page=1&page_size=4").json["count"] == 10
    assert len(api.get("/api/v1/network/chargers?page=2&page_size=4").json["result"]) == 2
    detail = api.get("/api/v1/network/chargers/FAULT-CODE").json
    assert detail["cid"] == "FAULT-CODE" and detail["type"] == "L3" and detail["bucket"] == "Faulted" and detail["last_seen"]
    assert detail["connectors"][1] == {**detail["connectors"][1], "connector_id": 1, "status": "Available", "error_code": "GroundFailure"}
    assert api.get("/api/v1/network/chargers/NOPE").status_code == 404
    bad = api.get("/api/v1/network/chargers?bucket=Sleeping")
    assert bad.status_code == 400 and "bucket" in bad.json["message"]
    assert api.get("/api/v1/network/chargers?type=L9").status_code == 400
    assert api_as("finance").get("/api/v1/network/summary").status_code == 403
    health = api.get("/api/v1/network/health").json
    assert health["online"] == 7 and health["offline"] == 3
    assert {c["cid"] for c in health["degraded"]} == {"WEAK-RSSI", "WEAK-LATE"}


def test_offline_sweep_marks_the_fleet_in_one_pass_and_reports_each_crossing_once(session, fleet_states, now):
    crossed = chargers_health.sweep_offline(session, now=now)
    session.commit()
    assert {session.get(Charger, i).cid for i in crossed} == {"OFF"}  # NEVER has no deadline to cross
    assert chargers_health.sweep_offline(session, now=now) == []
    crossed = chargers_health.sweep_offline(session, now=now + timedelta(seconds=200))
    assert {session.get(Charger, i).cid for i in crossed} == {"AVAIL", "CHARGE", "WEAK-RSSI", "WEAK-LATE", "ONTIME", "FAULT-0", "FAULT-CODE", "OFF-DEFAULT"}


def test_offline_detected_within_a_minute_of_the_threshold_through_ingest(app, session, ingest, fleet):
    session.add(Charger(cid="HB-1", name="hb", type="L2", heartbeat_interval=10))
    session.commit()
    f = fleet(["HB-1"])
    f.heartbeat("HB-1")
    charger = wait_for(session, lambda: session.scalar(select(Charger).where(Charger.cid == "HB-1", Charger.last_seen.is_not(None))))
    assert charger.offline_after == charger.last_seen + timedelta(seconds=30)
    assert chargers_health.sweep_offline(session, now=charger.last_seen + timedelta(seconds=29)) == []
    # the beat sweeps every 15 s: a charger is marked at most 15 s after its threshold
    assert chargers_health.sweep_offline(session, now=charger.last_seen + timedelta(seconds=31)) == [charger.id]


def test_offline_alert_task_notifies_cpo_and_manager_once(app, session, celery_worker, fleet_states):
    off = session.scalar(select(Charger).where(Charger.cid == "OFF"))
    result = celery_worker.send_task("chargers.sweep").get(timeout=30)
    assert result["offline"] >= 1
    notes = wait_for(session, lambda: session.scalars(select(Notification).where(Notification.kind == "charger_offline", Notification.ref_id == off.id)).all())
    assert sorted(n.user.username for n in notes) == ["cpo", "manager"]
    assert "OFF went offline" in notes[0].title
    # a flapping charger does not flood: the same alert within the dedup window is not repeated
    assert celery_worker.send_task("chargers.charger_offline", args=(off.id, "")).get(timeout=30) == 0


def test_fault_and_clear_are_handed_to_celery_by_the_ingest(app, session, celery_worker, ingest, fleet):
    f = fleet(["FLT-1"])
    f.set_status("FLT-1", 1, "Available")
    f.fault("FLT-1", 1, "GroundFailure")
    notes = wait_for(session, lambda: session.scalars(select(Notification).where(Notification.kind == "charger_faulted")).all(), timeout=20)
    assert sorted(n.user.username for n in notes) == ["cpo", "manager"] and "FLT-1 is faulted" in notes[0].title
    f.recover("FLT-1", 1)
    assert wait_for(session, lambda: session.scalar(select(func.count()).select_from(Notification).where(Notification.kind == "fault_cleared")) == 2, timeout=20)


def test_raw_stream_retention_is_pruned_by_age_and_per_charger(app, session, now):
    charger = make(session, now, "CHATTY")
    old = now - timedelta(hours=app.config["CHARGER_MESSAGE_RETENTION_HOURS"] + 1)
    session.add_all([ChargerMessage(charger_id=charger.id, direction="in", action="Heartbeat", received_at=old) for _ in range(3)])
    session.add_all([ChargerMessage(charger_id=charger.id, direction="in", action="Heartbeat", received_at=now) for _ in range(6)])
    session.commit()
    app.config["CHARGER_MESSAGE_MAX_PER_CHARGER"], keep = 4, app.config["CHARGER_MESSAGE_MAX_PER_CHARGER"]
    try:
        assert chargers_health.prune_messages(session, now=now) == 5
    finally:
        app.config["CHARGER_MESSAGE_MAX_PER_CHARGER"] = keep
    session.commit()
    assert session.scalar(select(func.count()).select_from(ChargerMessage)) == 4
