"""The network list at fleet size: faults and offline first, then by cid; sort=; paging with the filter's count."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.models.base import utcnow
from app.models.chargers import Charger, Connector
from app.services import chargers


def make(session, cid, seen_ago=10, interval=60, rssi=-60, gap=None, connectors=(("Available", "NoError"),)):
    """A charger seen `seen_ago` seconds before now (now taken when the test runs)."""
    seen = utcnow() - timedelta(seconds=seen_ago) if seen_ago is not None else None
    charger = Charger(cid=cid, name=f"Charger {cid}", type="L2", heartbeat_interval=interval, last_seen=seen,
                      offline_after=seen + chargers.offline_threshold(interval) if seen else None, offline=False,
                      last_rssi=rssi, last_heartbeat_gap=gap)
    session.add(charger)
    session.flush()
    for n, (status, code) in enumerate(connectors):
        session.add(Connector(charger_id=charger.id, connector_id=n, status=status, error_code=code))
    return charger


@pytest.fixture
def fleet_states(session):
    make(session, "AVAIL", connectors=(("Available", "NoError"), ("Preparing", "NoError")))
    make(session, "CHARGE", connectors=(("Available", "NoError"), ("SuspendedEV", "NoError")))
    make(session, "WEAK-RSSI", rssi=-90, connectors=(("Available", "NoError"), ("Charging", "NoError")))
    make(session, "WEAK-LATE", gap=91)  # 91 s > 1.5 x 60 s
    make(session, "ONTIME", gap=89)
    make(session, "FAULT-0", rssi=-95, connectors=(("Faulted", "NoError"), ("Charging", "NoError")))
    make(session, "FAULT-CODE", connectors=(("Available", "NoError"), ("Available", "GroundFailure")))
    make(session, "OFF", seen_ago=3600, connectors=(("Faulted", "OtherError"),))  # offline beats faulted
    make(session, "NEVER", seen_ago=None)
    session.commit()


def test_default_order_is_faulted_offline_weak_charging_available_then_cid(api_as, fleet_states):
    body = api_as("agent").get("/api/v1/network/chargers?page_size=100").json
    assert [(r["bucket"], r["cid"]) for r in body["result"]] == [
        ("Faulted", "FAULT-0"), ("Faulted", "FAULT-CODE"),
        ("Offline", "NEVER"), ("Offline", "OFF"),
        ("Weak Signal", "WEAK-LATE"), ("Weak Signal", "WEAK-RSSI"),
        ("Charging", "CHARGE"),
        ("Available", "AVAIL"), ("Available", "ONTIME"),
    ]
    assert body["count"] == 9


def test_sort_by_cid_name_last_seen_either_way(api_as, session, fleet_states):
    api = api_as("cpo")
    cids = [r["cid"] for r in api.get("/api/v1/network/chargers?sort=cid&page_size=100").json["result"]]
    assert cids == sorted(cids)
    assert [r["cid"] for r in api.get("/api/v1/network/chargers?sort=-cid&page_size=100").json["result"]] == cids[::-1]
    seen = [r["last_seen"] for r in api.get("/api/v1/network/chargers?sort=-last_seen&page_size=100").json["result"]]
    known = [s for s in seen if s]
    assert known == sorted(known, reverse=True)
    names = [r["name"] for r in api.get("/api/v1/network/chargers?sort=name&page_size=100").json["result"]]
    assert names == sorted(names)
    bad = api.get("/api/v1/network/chargers?sort=bucket")
    assert bad.status_code == 400 and "sort" in bad.json["message"]


def test_pages_carry_the_count_of_the_filter(api_as, session):
    for i in range(1, 8):
        make(session, f"PAGE-{i}", seen_ago=10, connectors=(("Faulted", "GroundFailure"),) if i % 3 == 0 else (("Available", "NoError"),))
    session.commit()
    api = api_as("dispatcher")
    first = api.get("/api/v1/network/chargers?page_size=3&page=0").json
    second = api.get("/api/v1/network/chargers?page_size=3&page=1").json
    third = api.get("/api/v1/network/chargers?page_size=3&page=2").json
    assert first["count"] == second["count"] == 7
    assert [r["cid"] for r in first["result"]] == ["PAGE-3", "PAGE-6", "PAGE-1"]
    assert len(third["result"]) == 1 and {r["cid"] for r in first["result"] + second["result"] + third["result"]} == {
        f"PAGE-{i}" for i in range(1, 8)}
    faulted = api.get("/api/v1/network/chargers?bucket=Faulted&page_size=1").json
    assert faulted["count"] == 2 and len(faulted["result"]) == 1
    assert api.get("/api/v1/network/chargers?q=PAGE-7").json["count"] == 1
