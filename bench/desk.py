"""Support desk at scale: 1M calls and 200k tickets in a scratch SQLite DB.

Measures, over the WSGI stack with a signed-in manager, the dashboard (home page) and the first
page of call history filtered by category and date range, p50/p95 and the ratio to the bare login
page measured in the same run. Goal: dashboard p95 < 150 ms.

    python bench/desk.py [--calls 1000000] [--tickets 200000] [--repeat 100]
"""
from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import measure, report  # noqa: E402

PASSWORD = "bench-password"


def build(app, calls: int, tickets: int) -> None:
    from flask_migrate import upgrade
    from sqlalchemy import select

    from app.demo import people
    from app.demo.support import bulk_insert, call_rows, ticket_rows
    from app.extensions import db
    from app.models.base import utcnow
    from app.models.people import Department, TeamMember
    from app.models.support import Call, Ticket

    with app.app_context():
        upgrade(revision="heads")
        app.appbuilder.sm.sync_roles()
        people.seed(db.session)
        db.session.commit()
        rng = random.Random(1)
        now = utcnow()
        start = now - timedelta(days=365)
        agents = list(db.session.scalars(select(TeamMember.user_id)))
        departments = list(db.session.scalars(select(Department.id)))
        customers = [(None, f"+9477{1000000 + i}") for i in range(5000)]
        started = time.perf_counter()
        bulk_insert(db.session, Call, call_rows(rng, calls, start, now, agents, customers), chunk=50000)
        db.session.commit()
        print(f"built {calls:,} calls in {time.perf_counter() - started:.1f} s", flush=True)
        started = time.perf_counter()
        sla = app.config["SUPPORT_SLA_MINUTES"]
        bulk_insert(db.session, Ticket, ticket_rows(rng, tickets, start, now, agents, departments, sla), chunk=50000)
        db.session.commit()
        db.session.execute(db.text("ANALYZE"))
        db.session.commit()
        # fold the bulk load's WAL into the database, as a long-running server's checkpoints would have
        db.session.execute(db.text("PRAGMA wal_checkpoint(TRUNCATE)"))
        db.session.commit()
        print(f"built {tickets:,} tickets in {time.perf_counter() - started:.1f} s", flush=True)


def signed_in(app, username: str):
    client = app.test_client()
    page = client.get("/login/").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    response = client.post("/login/", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, "login failed"
    return client


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--tickets", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--reuse", help="measure an already built bench DB (its path) instead of building one")
    args = parser.parse_args()

    from app import create_app
    from app.models.base import utcnow

    tmp = Path(tempfile.mkdtemp(prefix="bench-desk-"))
    database = Path(args.reuse) if args.reuse else tmp / "desk.db"
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}", "VAR_DIR": tmp, "UPLOAD_DIR": tmp / "u",
        "DEMO_PASSWORD": PASSWORD, "FAB_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000", "AUTH_RATE_LIMITED": False,
    })
    if not args.reuse:
        build(app, args.calls, args.tickets)
        # measure in a fresh process, as a server would run: not in the one that just allocated a million rows
        import subprocess

        subprocess.run([sys.executable, __file__, "--reuse", str(database), "--repeat", str(args.repeat)], check=True)
        return
    print(f"database: {database}", flush=True)

    anonymous = app.test_client()
    manager = signed_in(app, "manager")
    login = measure(lambda: anonymous.get("/login/"), repeat=args.repeat)
    report("login page (baseline)", login)

    def dashboard():
        response = manager.get("/")
        assert response.status_code == 200 and b"support-dashboard" in response.data

    report("dashboard (home, manager)", measure(dashboard, repeat=args.repeat), login, goal="p95 < 150 ms")
    today = utcnow().date()
    url = (f"/support/calls/?category=Charger+Faults&date_from={today - timedelta(days=30)}&date_to={today - timedelta(days=1)}")

    def history():
        response = manager.get(url)
        assert response.status_code == 200 and b'id="calls"' in response.data

    report("call history p1 (category + 30 days)", measure(history, repeat=args.repeat), login)
    api = f"/api/v1/calls/search?category=Complaints&date_from={today - timedelta(days=90)}&date_to={today}"
    report("API calls/search (category + 90 days)", measure(lambda: manager.get(api), repeat=args.repeat), login)


if __name__ == "__main__":
    main()
