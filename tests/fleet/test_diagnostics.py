"""Diagnostics through ChargeOps' own signed upload URL, and the charger's error log filtered and exported."""
from __future__ import annotations

from datetime import timedelta

import io
from datetime import datetime

import pytest
from sqlalchemy import select

from app.models.base import utcnow
from app.models.chargers import Charger, ChargerFault
from app.models.fleet import DiagnosticsFile
from tests.chargers.conftest import wait_for


@pytest.fixture
def public_url(app, live_server):
    """Chargers reach ChargeOps at the live server (PUBLIC_BASE_URL is what signed URLs start with)."""
    old = app.config["PUBLIC_BASE_URL"]
    app.config["PUBLIC_BASE_URL"] = live_server.url
    yield live_server.url
    app.config["PUBLIC_BASE_URL"] = old


def _charger(session, cid="DIAG-1"):
    session.add(Charger(cid=cid, name=f"Charger {cid}", type="L2", heartbeat_interval=3600,
                            last_seen=utcnow(), offline_after=utcnow() + timedelta(hours=1)))  # online: seen just now
    session.commit()


def test_get_diagnostics_uploads_to_our_signed_url_and_is_downloadable(session, api_as, web_as, ingest, fleet, public_url):
    _charger(session)
    sim = fleet(["DIAG-1"])
    response = api_as("dispatcher").post("/api/v1/chargers/DIAG-1/diagnostics")
    assert response.status_code == 202, response.json
    record_id = response.json["diagnostics_id"]
    assert wait_for(session, lambda: session.get(DiagnosticsFile, record_id).status == "Uploaded", timeout=20)
    location = next(c for c in sim.commands_seen if c["action"] == "GetDiagnostics")["payload"]["location"]
    assert location.startswith(f"{public_url}/fleet/diagnostics/")
    record = session.get(DiagnosticsFile, record_id)
    assert record.original_name == "diagnostics-DIAG-1.zip" and record.size > 0 and record.sha256
    assert wait_for(session, lambda: session.scalar(select(Charger.diagnostics_status).where(Charger.cid == "DIAG-1")) == "Uploaded")

    agent = web_as("agent")  # may read and download, may not ask for one
    page = agent.get("/chargers/network/DIAG-1").get_data(as_text=True)
    assert f"/diagnosticsfileview/file/DIAG-1/{record_id}" in page and 'data-post="diagnostics"' not in page
    download = agent.get(f"/diagnosticsfileview/file/DIAG-1/{record_id}")
    assert download.status_code == 200 and b"simulated diagnostics of DIAG-1" in download.data
    assert api_as("agent").post("/api/v1/chargers/DIAG-1/diagnostics").status_code == 403
    # the link is single-use: a second upload to it is refused
    assert agent.put(location, data=b"again").status_code == 409


def test_forged_expired_and_oversized_uploads_are_refused(app, session, client):
    from app.services import diagnostics

    _charger(session, "DIAG-2")
    record = DiagnosticsFile(charger_id=session.scalar(select(Charger.id).where(Charger.cid == "DIAG-2")), status="Requested")
    session.add(record)
    session.commit()
    url = diagnostics.upload_url(record)
    path = url[url.index("/fleet/"):]
    token = path.rsplit("/", 1)[1]
    forged = path[: -len(token)] + token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert client.put(forged, data=b"x").status_code == 403
    assert client.put("/fleet/diagnostics/not-a-token", data=b"x").status_code == 403
    other_salt = path.replace(token, diagnostics.URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="other").dumps({"d": record.id}))
    assert client.put(other_salt, data=b"x").status_code == 403
    old_minutes, old_max = app.config["DIAGNOSTICS_LINK_MINUTES"], app.config["DIAGNOSTICS_MAX_BYTES"]
    try:
        app.config["DIAGNOSTICS_LINK_MINUTES"] = -1  # every link is past its age
        expired = client.put(path, data=b"x")
        assert expired.status_code == 403 and b"expired" in expired.data
        app.config["DIAGNOSTICS_LINK_MINUTES"] = old_minutes
        app.config["DIAGNOSTICS_MAX_BYTES"] = 100
        assert client.put(path, data=b"x" * 101).status_code == 413
        assert client.post(path, data={"file": (io.BytesIO(b"x" * 101), "big.zip")},
                           content_type="multipart/form-data").status_code == 413
    finally:
        app.config["DIAGNOSTICS_LINK_MINUTES"], app.config["DIAGNOSTICS_MAX_BYTES"] = old_minutes, old_max
    session.rollback()
    assert session.get(DiagnosticsFile, record.id).status == "Requested"
    ok = client.post(path + "/log.tgz", data={"file": (io.BytesIO(b"logs"), "log.tgz")},
                     content_type="multipart/form-data")
    assert ok.status_code == 201
    session.rollback()
    assert session.get(DiagnosticsFile, record.id).original_name == "log.tgz"


def test_error_log_is_filtered_and_exported(session, web_as):
    _charger(session, "ERR-1")
    charger_id = session.scalar(select(Charger.id).where(Charger.cid == "ERR-1"))
    for code, day, cleared in (("GroundFailure", 3, True), ("HighTemperature", 10, False), ("GroundFailure", 20, False)):
        at = datetime(2026, 11, day, 8, 0)
        session.add(ChargerFault(charger_id=charger_id, connector_id=1, error_code=code, occurrences=2, first_seen=at,
                                 last_seen=at, cleared_at=at if cleared else None))
    session.commit()
    agent = web_as("agent")
    page = agent.get("/chargers/error-log/ERR-1?error_code=GroundFailure").get_data(as_text=True)
    assert "2 fault episodes" in page and "HighTemperature" not in page.split('id="error-log"')[1]
    csv_text = agent.get("/chargers/error-log/ERR-1?open=1&since=2026-11-05&format=csv").get_data(as_text=True)
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("charger,connector_id,error_code") and len(lines) == 3
    assert agent.get("/chargers/error-log/ERR-1?since=yesterday").status_code == 400
    assert web_as("finance").get("/chargers/error-log/ERR-1").status_code == 403
