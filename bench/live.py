"""Live updates latency: a charger's fault, from the ingest's write to the open screen, end to end on the
real Mosquitto and Redis, the real ingest and simulator in this process, the app over real HTTP.

Per fault (a StatusNotification Faulted published by the simulator):
  baseline  publish -> the ingest's commit is visible in the database (polled)
  measured  publish -> the Server-Sent Events `change` note naming the charger reaches an open stream
            publish -> that note plus the dashboard's refetch of /api/v1/network/summary showing the fault
  and, per fault, commit -> SSE note (goal: p95 within 2 s of the ingest writing it).

    python bench/live.py [--faults 40]
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import report  # noqa: E402


def stats(samples: list[float]) -> dict:
    samples = sorted(samples)
    return {"n": len(samples), "p50_ms": samples[len(samples) // 2], "p95_ms": samples[int(0.95 * (len(samples) - 1))],
            "max_ms": samples[-1]}


def read_stream(url: str, token: str, notes: "queue.Queue", stop: threading.Event) -> None:
    import requests

    while not stop.is_set():
        with requests.get(url, headers={"Authorization": f"Bearer {token}", "Accept": "text/event-stream"},
                          stream=True, timeout=60) as response:
            event = None
            for line in response.iter_lines(decode_unicode=True):
                if stop.is_set():
                    return
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event:
                    notes.put((time.perf_counter(), event, json.loads(line[6:])))
                    event = None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--faults", type=int, default=40)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="bench-live-")
    os.environ.setdefault("CHARGEOPS_VAR_DIR", workdir)
    run = uuid.uuid4().hex[:6]

    import requests
    from flask_migrate import upgrade
    from sqlalchemy import select
    from werkzeug.serving import make_server

    from app import create_app
    from app.demo import people
    from app.extensions import db
    from app.models.base import utcnow
    from app.models.chargers import Charger, Connector
    from app.services.chargers_ingest import Ingestor
    from app.services.chargers_simulator import Fleet

    password = "bench-password"
    app = create_app({"MQTT_TOPIC_PREFIX": f"benchlive{run}", "LOG_LEVEL": "WARNING", "DEMO_PASSWORD": password,
                      "LIVE_STREAM_SECONDS": 3600})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{server.server_port}"
    with app.app_context():
        upgrade()
        app.appbuilder.sm.sync_roles()
        people.seed(db.session)
        cids = [f"LIVE-{n:03d}" for n in range(args.faults)]
        for cid in cids:
            charger = Charger(cid=cid, name=cid, type="L3", heartbeat_interval=3600, offline=False, last_seen=utcnow(),
                              offline_after=utcnow().replace(year=utcnow().year + 1))
            db.session.add(charger)
            db.session.flush()
            db.session.add(Connector(charger_id=charger.id, connector_id=1, status="Available", error_code="NoError",
                                     updated_at=utcnow()))
        db.session.commit()
        ingestor = Ingestor(app, client_id=f"bench-live-{run}", session_expiry=60).start()
        fleet = Fleet(app.config["MQTT_URL"], app.config["MQTT_TOPIC_PREFIX"], cids, lively=False,
                      heartbeat_interval=3600).start(boot=False)
        token = requests.post(f"{base_url}/api/v1/security/login",
                              json={"username": "cpo", "password": password, "provider": "db"}, timeout=30).json()["access_token"]
        notes: queue.Queue = queue.Queue()
        stop = threading.Event()
        threading.Thread(target=read_stream, args=(f"{base_url}/api/v1/live/stream", token, notes, stop), daemon=True).start()
        while notes.get(timeout=30)[1] != "hello":
            pass
        auth = {"Authorization": f"Bearer {token}"}

        committed, streamed, on_screen, commit_to_note = [], [], [], []
        for number, cid in enumerate(cids, start=1):
            t0 = time.perf_counter()
            fleet.fault(cid, 1, "GroundFailure")
            t_commit = t_note = None
            deadline = t0 + 30
            while time.perf_counter() < deadline and (t_commit is None or t_note is None):
                if t_commit is None:
                    status = db.session.scalar(select(Connector.status).join(Charger).where(Charger.cid == cid))
                    db.session.rollback()
                    if status == "Faulted":
                        t_commit = time.perf_counter()
                try:
                    at, event, note = notes.get(timeout=0.001)
                    if event == "change" and cid in note.get("chargers", {}):
                        t_note = at
                except queue.Empty:
                    pass
            if t_commit is None or t_note is None:
                print(f"fault {cid}: no {'commit' if t_commit is None else 'note'} within 30 s", flush=True)
                continue
            summary = requests.get(f"{base_url}/api/v1/network/summary", headers=auth, timeout=30).json()
            t_screen = time.perf_counter()
            assert summary["L3"]["Faulted"] == number, summary
            committed.append((t_commit - t0) * 1000)
            streamed.append((t_note - t0) * 1000)
            on_screen.append((t_screen - t0) * 1000)
            commit_to_note.append(max(0.0, (t_note - t_commit) * 1000))
        stop.set()
        baseline = stats(committed)
        report("publish -> ingest commit (baseline)", baseline)
        report("publish -> SSE change note", stats(streamed), baseline)
        report("publish -> note + summary refetch", stats(on_screen), baseline)
        report("ingest commit -> SSE change note", stats(commit_to_note), goal="p95 < 2000 ms")
        fleet.stop()
        ingestor.stop(discard_session=True)
        server.shutdown()


if __name__ == "__main__":
    main()
