"""The network list at fleet size: faults and offline first, then by cid; sort=; paging with the filter's count."""
from __future__ import annotations

from tests.chargers.test_network import fleet_states, make  # noqa: F401  (the bucket fixtures of the chargers tests)


def test_default_order_is_faulted_offline_weak_charging_available_then_cid(api_as, fleet_states):
    body = api_as("agent").get("/api/v1/network/chargers?page_size=100").json
    # OFF-DEFAULT sits at the edge of its offline threshold by design: left out of the order check
    assert [(r["bucket"], r["cid"]) for r in body["result"] if r["cid"] != "OFF-DEFAULT"] == [
        ("Faulted", "FAULT-0"), ("Faulted", "FAULT-CODE"),
        ("Offline", "NEVER"), ("Offline", "OFF"),
        ("Weak Signal", "WEAK-LATE"), ("Weak Signal", "WEAK-RSSI"),
        ("Charging", "CHARGE"),
        ("Available", "AVAIL"), ("Available", "ONTIME"),
    ]
    assert body["count"] == 10


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
