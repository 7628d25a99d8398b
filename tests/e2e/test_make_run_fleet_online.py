"""`make run`'s processes for two minutes on a scratch database: no charger of the seeded fleet goes Offline.

The Procfile's own lines (web, ingest, ocpp, simulator) run under honcho with their own ports, MQTT
topic prefix, ingest client id and database, so nothing crosses a developer's `make run`. What the
beat's sweep would do (mark chargers past their threshold Offline) is applied at the end, and the
heartbeat-health screen is read in the browser. It runs once, on the PostgreSQL pass (`postgres_pass`).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text


ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
RUN_SECONDS = 120
SLACK_SECONDS = 60  # how late a heartbeat may be on a machine whose cores are all busy
PROCESSES = ["web", "ingest", "ocpp", "simulator"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def _http_ok(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.mark.browser
@pytest.mark.postgres_pass  # its own SQLite database, whichever pass; the PostgreSQL pass has the time
@pytest.mark.timeout(900)
def test_the_seeded_fleet_stays_online_under_make_run(tmp_path, browser):

    run = uuid.uuid4().hex[:8]
    database = tmp_path / "chargeops.db"
    web_port, ocpp_port = _free_port(), _free_port()
    env = {
        **os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "FLASK_APP": "app:create_app",
        "CHARGEOPS_VAR_DIR": str(tmp_path / "var"), "DATABASE_URL": f"sqlite:///{database}",
        "MQTT_TOPIC_PREFIX": f"makerun{run}", "INGEST_CLIENT_ID": f"makerun-ingest-{run}", "CELERY_QUEUE": f"makerun-{run}",
        "WEB_PORT": str(web_port), "OCPP_PORT": str(ocpp_port), "OCPP_URL": f"ws://127.0.0.1:{ocpp_port}/ocpp/",
        "OCPP_NODE_ID": f"makerun-{run}", "DEMO_PASSWORD": "makerun-password", "PYTHONUNBUFFERED": "1",
    }
    for step in (["flask", "db", "upgrade"], ["flask", "seed-demo"], ["flask", "ingest-session"]):  # what `make run` does
        done = subprocess.run(step, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
    engine = create_engine(f"sqlite:///{database}")
    with engine.connect() as conn:
        fleet = conn.scalar(text("SELECT count(*) FROM charger WHERE unregistered = 0"))
    assert fleet > 195

    log = open(tmp_path / "honcho.log", "w")
    honcho = subprocess.Popen([str(BIN / "honcho"), "-f", str(ROOT / "Procfile"), "-d", str(ROOT), "start", *PROCESSES],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for(lambda: _http_ok(f"http://127.0.0.1:{web_port}/health"), 120, "the web process")
        started = time.monotonic()
        context = browser.new_context(base_url=f"http://127.0.0.1:{web_port}")
        page = context.new_page()
        page.goto("/login/")
        page.fill("input[name=username]", "cpo")
        page.fill("input[name=password]", "makerun-password")
        page.click("input[type=submit], button[type=submit]")
        page.wait_for_load_state("networkidle")
        time.sleep(max(0.0, RUN_SECONDS - (time.monotonic() - started)))  # the run's length, not a synchronisation
        assert honcho.poll() is None, (tmp_path / "honcho.log").read_text()[-4000:]
        with engine.begin() as conn:  # the beat's offline sweep, applied now, with a busy machine's slack:
            # a heartbeat a loaded machine sends a little late is not an Offline charger
            conn.execute(text("UPDATE charger SET offline = 1 WHERE offline = 0 AND offline_after < :now"),
                         {"now": conn.scalar(text(f"SELECT strftime('%Y-%m-%d %H:%M:%f', 'now', '-{SLACK_SECONDS} seconds')"))})
            offline = conn.execute(text(
                "SELECT cid FROM charger WHERE unregistered = 0 AND (offline = 1 OR offline_after IS NULL)")).scalars().all()
        assert offline == [], f"{len(offline)} of {fleet} seeded chargers Offline: {offline[:20]}"
        page.goto("/chargers/network/health/")
        page.wait_for_function("() => document.getElementById('offline').textContent !== '-'", timeout=30000)
        assert page.text_content("#offline").strip() == "0"
        assert int(page.text_content("#online").strip()) >= fleet
        context.close()
    finally:
        os.killpg(honcho.pid, signal.SIGTERM)
        try:
            honcho.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(honcho.pid, signal.SIGKILL)
        log.close()
