"""The network list at fleet size: 100k chargers (200k connectors), the list API and the Network status page.

Every figure is a full request through the WSGI stack (auth, permission check, query, JSON), p50/p95,
with its ratio to a primary-key fetch of one charger (`GET /api/v1/chargers/<pk>`) in the same run.
Goal: p95 under 100 ms for the list.

    python bench/network.py [--chargers 100000] [--database-url postgresql://postgres@127.0.0.1:5432/x]

Without --database-url (or BENCH_DATABASE_URL) it runs on a scratch SQLite file; with a PostgreSQL URL
it creates a scratch database next to the named one and drops it afterwards.
"""
from __future__ import annotations

import argparse
import os
import random
import re
import sys
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import measure, report  # noqa: E402

PASSWORD = "bench-password"


def scratch_database(url: str | None, workdir: Path) -> tuple[str, object]:
    if not url or not url.startswith("postgresql"):
        return f"sqlite:///{workdir / 'network.db'}", None
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"chargeops_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False), drop


def build_fleet(session, count: int) -> None:
    """1% faulted, 5% offline, 3% weak signal, 20% charging, the rest available; two connectors each."""
    from sqlalchemy import insert, select

    from app.models.base import utcnow
    from app.models.chargers import Charger, Connector
    from app.services.chargers import restamp_conditions

    rng = random.Random(7)
    now = utcnow()
    chunk = 10000
    for start in range(0, count, chunk):
        rows = []
        for i in range(start, min(count, start + chunk)):
            roll = rng.random()
            seen = now - timedelta(seconds=rng.randint(1, 120))
            offline = 0.01 <= roll < 0.06
            rows.append({
                "cid": f"CHG-{i:06d}", "name": f"Charger {i:06d}", "type": "L3" if i % 5 == 0 else "L2",
                "site": f"Site {i % 997}", "heartbeat_interval": 60, "unregistered": False,
                "last_seen": seen - timedelta(hours=2) if offline else seen,
                "offline_after": seen - timedelta(hours=1) if offline else now + timedelta(hours=1),
                "offline": offline, "last_rssi": -90 if 0.06 <= roll < 0.09 else -60,
                "commands_sent": 0, "created_at": now,
            })
        session.execute(insert(Charger), rows)
        ids = session.execute(select(Charger.id, Charger.cid).where(Charger.cid.in_([r["cid"] for r in rows]))).all()
        connectors = []
        for charger_id, cid in ids:
            roll = random.Random(cid).random()
            status = "Faulted" if roll < 0.01 else ("Charging" if 0.09 <= roll < 0.29 else "Available")
            connectors.append({"charger_id": charger_id, "connector_id": 0, "status": "Available", "error_code": "NoError"})
            connectors.append({"charger_id": charger_id, "connector_id": 1, "status": status,
                               "error_code": "GroundFailure" if status == "Faulted" else "NoError"})
        session.execute(insert(Connector), connectors)
        restamp_conditions(session, [charger_id for charger_id, _ in ids])  # what the ingest does for its batches
        session.commit()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chargers", type=int, default=100000)
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-network-"))
    url, drop = scratch_database(args.database_url, workdir)

    from flask_appbuilder import Model
    from sqlalchemy import select, text

    from app import create_app
    from app.demo import people
    from app.extensions import db
    from app.models.chargers import Charger

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "VAR_DIR": workdir, "UPLOAD_DIR": workdir / "u",
                      "DEMO_PASSWORD": PASSWORD, "LOG_LEVEL": "WARNING", "AUTH_RATE_LIMIT": "100000 per second",
                      "FAB_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    try:
        with app.app_context():
            Model.metadata.create_all(db.engine)
            app.appbuilder.sm.sync_roles()
            people.seed(db.session)
            db.session.commit()
            print(f"building {args.chargers} chargers on {db.engine.dialect.name} ...", flush=True)
            build_fleet(db.session, args.chargers)
            db.session.commit()
            # planner statistics for the new rows, and on PostgreSQL what autovacuum does to a table at rest: the
            # search's trigram index merges the pending list the bulk load left (until then the planner reads it
            # as costly and scans the table)
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE" if conn.dialect.name == "postgresql" else "ANALYZE"))
            pk = db.session.scalar(select(Charger.id).where(Charger.cid == f"CHG-{args.chargers // 2:06d}"))
            db.session.remove()

        client = app.test_client()
        token = client.post("/api/v1/security/login", json={"username": "cpo", "password": PASSWORD,
                                                            "provider": "db"}).json["access_token"]
        auth = {"Authorization": f"Bearer {token}"}

        def api(path):
            def call():
                response = client.get(path, headers=auth)
                assert response.status_code == 200, (path, response.status_code, response.get_data(as_text=True)[:300])
            return call

        browser = app.test_client()
        form = browser.get("/login/").get_data(as_text=True)
        csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)
        browser.post("/login/", data={"username": "cpo", "password": PASSWORD, "csrf_token": csrf})

        def page():
            response = browser.get("/chargers/network/")
            assert response.status_code == 200 and b"Network status" in response.data

        n = args.repeat
        baseline = measure(api(f"/api/v1/chargers/{pk}"), repeat=n)
        report("baseline: GET /api/v1/chargers/<pk>", baseline)
        goal = "p95 < 100 ms"
        for label, path in (
            ("list, default order (faults first)", "/api/v1/network/chargers?page_size=50"),
            ("list, page 1000 (offset 50k)", "/api/v1/network/chargers?page_size=50&page=1000"),
            ("list, bucket=Faulted", "/api/v1/network/chargers?bucket=Faulted&page_size=50"),
            ("list, bucket=Offline", "/api/v1/network/chargers?bucket=Offline&page_size=50"),
            ("list, type=L3, default order", "/api/v1/network/chargers?type=L3&page_size=50"),
            ("list, sort=-last_seen", "/api/v1/network/chargers?sort=-last_seen&page_size=50"),
            ("list, sort=name", "/api/v1/network/chargers?sort=name&page_size=50"),
            ("list, q=Site 42 (search)", "/api/v1/network/chargers?q=Site%2042&page_size=50"),
            ("summary (tiles)", "/api/v1/network/summary"),
        ):
            report(label, measure(api(path), repeat=n), baseline, goal)
        report("page: /chargers/network/ (with tiles)", measure(page, repeat=n), baseline, goal)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        if drop:
            drop()


if __name__ == "__main__":
    main()
