"""The network list at fleet size: faults and offline first, then by cid; sort=; paging with the filter's count."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.models.base import utcnow
from app.models.chargers import Charger, Connector
from app.services import chargers
from tests.chargers.conftest import wait_for


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


def test_the_list_follows_the_ingest_and_matches_the_contract_rule(session, ingest, fleet):
    """The stored rank the list walks is written with the ingest's batch: a fault and its clearing move the
    charger at once, and every charger's list bucket is the contract's rule (bucket_of)."""
    make(session, "ING-1", connectors=(("Available", "NoError"), ("Available", "NoError")))
    make(session, "ING-2", connectors=(("Available", "NoError"), ("Available", "NoError")))
    session.commit()
    sim = fleet(["ING-1", "ING-2"])

    def bucket(cid):
        return {r["cid"]: r["bucket"] for r in chargers.list_network(session, page_size=100)["result"]}.get(cid)

    sim.fault("ING-1", 1, "GroundFailure")
    assert wait_for(session, lambda: bucket("ING-1") == "Faulted")
    assert chargers.list_network(session, page_size=1)["result"][0]["cid"] == "ING-1"  # faults first
    sim.set_status("ING-1", 1, "Charging")
    assert wait_for(session, lambda: bucket("ING-1") == "Charging")
    for row in chargers.list_network(session, page_size=100)["result"]:
        charger = chargers.get_charger(session, row["cid"])
        assert row["bucket"] == chargers.bucket_of(session, charger.id), row


def test_the_sweep_restamps_a_rank_a_changed_threshold_moved(app, session):
    make(session, "RSSI-80", rssi=-80)
    session.commit()
    assert chargers.list_network(session, bucket="Weak Signal")["count"] == 0
    old = app.config["CHARGER_WEAK_RSSI_DBM"]
    app.config["CHARGER_WEAK_RSSI_DBM"] = -75
    try:
        assert chargers.restamp_conditions(session) == 1
        session.commit()
        assert [r["cid"] for r in chargers.list_network(session, bucket="Weak Signal")["result"]] == ["RSSI-80"]
        assert chargers.network_summary(session)["L2"]["Weak Signal"] == 1
    finally:
        app.config["CHARGER_WEAK_RSSI_DBM"] = old
        chargers.restamp_conditions(session)
        session.commit()


def test_deep_pages_cross_the_buckets_in_order(api_as, session):
    for i in range(12):
        status = ("Faulted", "GroundFailure") if i < 3 else (("Charging", "NoError") if i < 7 else ("Available", "NoError"))
        make(session, f"DEEP-{i:02d}", connectors=(status,))
    make(session, "DEEP-OFF", seen_ago=None)
    session.commit()
    api = api_as("cpo")
    seen = []
    for page in range(4):
        body = api.get(f"/api/v1/network/chargers?page_size=4&page={page}").json
        assert body["count"] == 13
        seen += [(r["bucket"], r["cid"]) for r in body["result"]]
    assert seen == ([("Faulted", f"DEEP-{i:02d}") for i in range(3)] + [("Offline", "DEEP-OFF")]
                    + [("Charging", f"DEEP-{i:02d}") for i in range(3, 7)]
                    + [("Available", f"DEEP-{i:02d}") for i in range(7, 12)])
    past = api.get("/api/v1/network/chargers?page_size=4&page=4").json  # past the end: empty, the count kept
    assert past["result"] == [] and past["count"] == 13


def test_search_matches_a_part_of_cid_name_or_site_in_any_case(api_as, session):
    make(session, "FIND-001").site = "Depot North"
    make(session, "FIND-002").name = "Mall Entrance West"
    make(session, "OTHER-003").site = "Harbour"
    session.commit()
    api = api_as("cpo")

    def found(q):
        body = api.get("/api/v1/network/chargers", query_string={"q": q}).json
        assert body["count"] == len(body["result"])
        return sorted(r["cid"] for r in body["result"])

    assert found("find-0") == ["FIND-001", "FIND-002"]
    assert found("pot nor") == ["FIND-001"]
    assert found("ENTRANCE") == ["FIND-002"]
    assert found("nowhere") == []


def test_the_search_is_served_by_the_trigram_index_on_postgresql(session):
    """At fleet size a substring search must not read every charger: on PostgreSQL the list's search filter is
    answered from ix_charger_search_trgm (sequential scans off, so the tiny test table cannot hide it)."""
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        pytest.skip("trigram search index: PostgreSQL only")
    query = select(Charger.id).where(chargers.search_condition("Site 42"))  # the list's own search filter
    compiled = query.compile(dialect=conn.dialect)
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    plan = "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params))
    session.rollback()
    assert "ix_charger_search_trgm" in plan, plan


def test_bucket_counts_are_kept_once_per_snapshot_slot(app, session):
    from app.models.chargers import BucketSnapshot

    make(session, "SNAP-1", connectors=(("Faulted", "GroundFailure"),))
    make(session, "SNAP-2")
    session.commit()
    now = utcnow()
    assert chargers.snapshot_buckets(session, now) == 2  # L2 and L3
    assert chargers.snapshot_buckets(session, now) == 0  # the same slot: kept once
    session.commit()
    l2 = session.query(BucketSnapshot).filter_by(charger_type="L2").one()
    assert (l2.faulted, l2.available, l2.offline) == (1, 1, 0)
