"""Command round trip and fault-to-alert latency, end to end on the real Mosquitto, Redis and a real
Celery worker, with the real ingest and the simulator in this process.

(1) command round trip: send_command (what the API calls: store, commit, publish) -> simulator answers
    -> ingest persists the result; p50/p95 (goal p95 < 100 ms). Baseline in the same run: a bare MQTT
    publish -> simulator -> result round trip without the database.
(2) fault -> alert task: a StatusNotification Faulted published -> ingest -> Celery task
    chargers.charger_faulted -> notifications stored; p50/p95 (goal p95 < 1 s).

    python bench/commands.py [--commands 200] [--faults 30]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import report  # noqa: E402


def stats(samples: list[float]) -> dict:
    samples = sorted(samples)
    return {"n": len(samples), "p50_ms": samples[len(samples) // 2], "p95_ms": samples[int(0.95 * (len(samples) - 1))],
            "max_ms": samples[-1]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--faults", type=int, default=30)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="bench-commands-")
    os.environ.setdefault("CHARGEOPS_VAR_DIR", workdir)
    run = uuid.uuid4().hex[:6]

    import config
    from celery.contrib.testing.worker import start_worker
    from flask_migrate import upgrade
    from sqlalchemy import func, select

    from app import create_app
    from app.demo import people
    from app.extensions import db
    from app.models.chargers import Charger, ChargerCommand
    from app.models.messaging import Notification
    from app.services import chargers_commands
    from app.services.chargers_ingest import Ingestor
    from app.services.chargers_simulator import Fleet

    app = create_app({
        "MQTT_TOPIC_PREFIX": f"benchcmd{run}", "LOG_LEVEL": "WARNING",
        "CELERY": {**config.CELERY, "task_default_queue": f"bench-{run}"},
    })
    with app.app_context():
        upgrade()
        app.appbuilder.sm.sync_roles()
        people.seed(db.session)
        cids = [f"BENCH-{n:03d}" for n in range(args.faults + 1)]
        db.session.add_all([Charger(cid=c, name=c, type="L2", heartbeat_interval=60) for c in cids])
        db.session.commit()
        ingestor = Ingestor(app, client_id=f"bench-ingest-{run}", session_expiry=60).start()
        fleet = Fleet(app.config["MQTT_URL"], app.config["MQTT_TOPIC_PREFIX"], cids, lively=False, heartbeat_interval=3600).start(boot=False)

        # baseline: MQTT only (publish a command, wait for the simulator's result message)
        from app.integrations.mqtt import make_client
        got = {}
        probe, address = make_client(app.config["MQTT_URL"])
        probe.on_message = lambda c, u, m: got.setdefault(m.topic.split("/")[-2], time.perf_counter())
        probe.connect(address.host, address.port)
        probe.subscribe(f"{app.config['MQTT_TOPIC_PREFIX']}/chargers/+/cmd/+/result", qos=1)
        probe.loop_start()
        time.sleep(0.3)
        base = []
        for _ in range(min(100, args.commands)):
            cmd_id = str(uuid.uuid4())
            t0 = time.perf_counter()
            probe.publish(f"{app.config['MQTT_TOPIC_PREFIX']}/chargers/{cids[0]}/cmd/{cmd_id}",
                          '{"ts": "2026-11-21T08:15:00Z", "action": "UnlockConnector", "payload": {"connectorId": 1}}', qos=1)
            while cmd_id not in got:
                time.sleep(0.0005)
            base.append((got[cmd_id] - t0) * 1000)
        probe.disconnect()
        probe.loop_stop()
        time.sleep(0.5)

        # (1) command round trip through store -> publish -> simulator -> ingest
        samples = []
        for _ in range(args.commands):
            t0 = time.perf_counter()
            command = chargers_commands.send_command(db.session, cids[0], "UnlockConnector", {"connectorId": 1}, None)
            command_id = command.command_id
            db.session.remove()
            while True:
                status = db.session.scalar(select(ChargerCommand.status).where(ChargerCommand.command_id == command_id))
                db.session.rollback()
                if status not in ("Pending", "Sent", "Queued"):
                    break
                time.sleep(0.001)
            samples.append((time.perf_counter() - t0) * 1000)
        baseline = stats(base)
        report("mqtt-only command round trip (baseline)", baseline)
        report("command round trip (stored+ingested)", stats(samples), baseline, goal="p95 < 100 ms")

        # (2) fault -> Celery alert task -> notifications
        with start_worker(app.extensions["celery"], pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=30):
            fault_samples = []
            for cid in cids[1:]:
                charger_id = db.session.scalar(select(Charger.id).where(Charger.cid == cid))
                db.session.rollback()
                t0 = time.perf_counter()
                fleet.fault(cid, 1, "GroundFailure")
                deadline = t0 + 10
                while time.perf_counter() < deadline:
                    n = db.session.scalar(select(func.count()).select_from(Notification).where(
                        Notification.kind == "charger_faulted", Notification.ref_id == charger_id))
                    db.session.rollback()
                    if n:
                        break
                    time.sleep(0.002)
                fault_samples.append((time.perf_counter() - t0) * 1000)
            report("fault -> alert task -> notification", stats(fault_samples), goal="p95 < 1000 ms")
        fleet.stop()
        ingestor.stop(discard_session=True)


if __name__ == "__main__":
    main()
