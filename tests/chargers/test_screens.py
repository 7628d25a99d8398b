"""Screens: registry/REST CRUD, live pages render for the right roles, Playwright live updates."""
from __future__ import annotations

from sqlalchemy import func, select

from app.models.chargers import Charger
from tests.chargers.conftest import wait_for
from tests.conftest import browser_login, screenshot


def test_registry_over_rest_validates_and_completes_auto_registered_chargers(session, api_as):
    api = api_as("cpo")
    created = api.post("/api/v1/chargers/", json={"cid": "LK-GF-01", "name": "Galle Fort #1", "type": "L3", "power_kw": 50,
                                                  "site": "Galle Fort", "latitude": 6.0267, "longitude": 80.217, "heartbeat_interval": 60})
    assert created.status_code == 201, created.json
    bad_id = api.post("/api/v1/chargers/", json={"cid": "bad id!", "name": "x", "type": "L2"})
    assert bad_id.status_code == 400 and "cid" in str(bad_id.json), bad_id.json
    bad_type = api.post("/api/v1/chargers/", json={"cid": "OK-1", "name": "x", "type": "L7"})
    assert bad_type.status_code == 400 and "L2" in str(bad_type.json), bad_type.json
    duplicate = api.post("/api/v1/chargers/", json={"cid": "LK-GF-01", "name": "dup", "type": "L2"})
    assert duplicate.status_code == 409 and "LK-GF-01" in duplicate.json["message"], duplicate.json
    assert session.scalar(select(func.count()).select_from(Charger)) == 1  # nothing half-written
    assert api_as("agent").post("/api/v1/chargers/", json={"cid": "X-1", "name": "x", "type": "L2"}).status_code == 403
    session.add(Charger(cid="AUTO-1", name="AUTO-1", type="L2", unregistered=True))
    session.commit()
    pk = session.scalar(select(Charger.id).where(Charger.cid == "AUTO-1"))
    assert api.put(f"/api/v1/chargers/{pk}", json={"name": "Kandy City Centre #3", "site": "Kandy City Centre"}).status_code == 200
    session.rollback()
    assert session.get(Charger, pk).unregistered is False
    assert api_as("agent").get("/api/v1/sessions/").status_code == 200
    assert api_as("finance").get("/api/v1/sessions/").status_code == 403


def test_live_pages_render_for_charger_roles_only(session, web_as):
    session.add(Charger(cid="PG-1", name="Page charger", type="L2"))
    session.commit()
    agent = web_as("agent")
    pages = {  # each page's heading and the live endpoint it polls (or the script that does)
        "/chargers/network/": ("Network status", "/static/js/network.js"),
        "/chargers/network/PG-1": ("Page charger", "/static/js/charger.js"),
        "/chargers/network/sessions/": ("Active sessions", "/static/js/sessions.js"),
        "/chargers/network/health/": ("Heartbeat health", "/static/js/health.js"),
        "/chargers/network/console/": ("OCPP debug console", "/static/js/console.js"),
        "/chargers/network/map/": ("Map", "/static/js/charger_map_page.js"),
    }
    for url, expected in pages.items():
        response = agent.get(url)
        html = response.get_data(as_text=True)
        assert response.status_code == 200 and all(text in html for text in expected), url
    assert agent.get("/chargers/network/NOPE").status_code == 404
    assert web_as("finance").get("/chargers/network/").status_code == 403
    home = agent.get("/").get_data(as_text=True)
    assert "Network status" in home and "Heartbeat health" in home


def test_network_status_and_charger_page_update_live(page, session, ingest, fleet):
    session.add(Charger(cid="LIVE-1", name="Colombo Fort #1", type="L2", heartbeat_interval=60))
    session.commit()
    f = fleet(["LIVE-1"], boot=True)
    wait_for(session, lambda: session.scalar(select(Charger.last_seen).where(Charger.cid == "LIVE-1")))
    browser_login(page, "cpo")
    page.goto("/chargers/network/")
    page.wait_for_selector("#chargers tr[data-cid='LIVE-1'] .bucket:has-text('Available')", timeout=5000)
    page.fill("#q", "Colombo")
    page.wait_for_selector("#count:has-text('1 chargers')", timeout=5000)
    screenshot(page, "chargers-network-status")

    page.goto("/chargers/network/LIVE-1")
    page.wait_for_selector("#connectors tr[data-connector='1'] .status:has-text('Available')", timeout=5000)
    f.fault("LIVE-1", 1, "GroundFailure")  # published -> ingested -> shown without reload
    page.wait_for_selector("#connectors tr[data-connector='1'] .status:has-text('Faulted')", timeout=20000)
    page.wait_for_selector("#bucket:has-text('Faulted')", timeout=20000)
    page.click("button:has-text('Trigger heartbeat')")
    page.wait_for_selector("#command-feedback:has-text('TriggerMessage')", timeout=5000)
    page.wait_for_selector("#commands td:has-text('Accepted')", timeout=5000)
    screenshot(page, "chargers-charger-page")


def test_a_charger_in_a_session_cannot_be_deleted_from_the_registry(session, web_as):
    from app.models.base import utcnow
    from app.models.chargers import ChargingSession
    from tests.conftest import csrf_token

    busy, idle = Charger(cid="DEL-BUSY", name="Busy", type="L2"), Charger(cid="DEL-IDLE", name="Idle", type="L2")
    session.add_all([busy, idle])
    session.flush()
    session.add(ChargingSession(charger_id=busy.id, transaction_id=1, connector_id=1, status="Active", started_at=utcnow()))
    session.commit()
    busy_id, idle_id = busy.id, idle.id
    cpo = web_as("cpo")
    token = csrf_token(cpo.get("/chargerview/list/").get_data(as_text=True))
    refused = cpo.post(f"/chargerview/delete/{busy_id}", data={"csrf_token": token}, follow_redirects=True)
    assert "the charger has an active session" in refused.get_data(as_text=True)
    cpo.post(f"/chargerview/delete/{idle_id}", data={"csrf_token": token})
    session.rollback()
    assert session.get(Charger, busy_id) is not None and session.get(Charger, idle_id) is None
