"""Customer lookup by phone (any written form) with wallet balance, against a primary-key fetch of the same row.

Builds 100k customers, 100k wallets and 2M ledger rows in a scratch SQLite database with bulk
inserts (or in DATABASE_URL when given, e.g. a scratch PostgreSQL database: its tables are
dropped and rebuilt), then measures in the same run:
  baseline  SELECT customer by primary key
  lookup    what GET /api/v1/customers/lookup?phone= does (normalise, match, balance, phones, vehicles)
  core      find_by_phone + balance_of (what other modules call on a hot path)
Goal: lookup p95 under 20 ms and under 3x the primary-key fetch.

    /work/main/.venv/bin/python bench/lookup.py [--customers 100000] [--entries 2000000]
"""
from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import report  # noqa: E402


def _written_forms(e164: str) -> list[str]:
    local = "0" + e164[3:]
    return [e164, local, f"{local[:3]} {local[3:6]} {local[6:]}", "00" + e164[1:], f"+94 {e164[3:5]} {e164[5:8]} {e164[8:]}"]


def build(engine, customers: int, entries: int) -> list[tuple[int, str]]:
    """Bulk-load the data set straight through the driver; returns (customer id, E.164) samples."""
    from flask_appbuilder import Model
    from sqlalchemy import text

    Model.metadata.drop_all(engine)
    Model.metadata.create_all(engine)
    rng = random.Random(7)
    now = datetime(2026, 11, 1)
    per_wallet = max(1, entries // customers)
    started = time.perf_counter()
    with engine.begin() as conn:
        import phonenumbers

        prefixes = ["77", "76", "71", "70", "78", "72", "75"]
        phones: list[str] = []
        for n in rng.sample(range(1000000, 9999999), customers * 2):
            phone = f"+94{prefixes[n % 7]}{n}"
            if phonenumbers.is_valid_number(phonenumbers.parse(phone)):
                phones.append(phone)
                if len(phones) == customers:
                    break
        rows = [(i + 1, f"Customer {i + 1}", phones[i], now) for i in range(customers)]
        conn.exec_driver_sql("INSERT INTO customer (id, name, phone, created_at) VALUES (%s)" % _marks(engine, 4), rows)
        conn.exec_driver_sql("INSERT INTO customer_phone (id, customer_id, phone) VALUES (%s)" % _marks(engine, 3),
                             [(cid, cid, phone) for cid, _name, phone, _at in rows])
        conn.exec_driver_sql("INSERT INTO vehicle (id, customer_id, make, model, plate) VALUES (%s)" % _marks(engine, 5),
                             [(cid, cid, "BYD", "Atto 3", f"CB-{cid % 10000:04d}") for cid, *_ in rows])
        amount = 100
        conn.exec_driver_sql(
            "INSERT INTO wallet (id, customer_id, currency, balance, created_at) VALUES (%s)" % _marks(engine, 5),
            [(cid, cid, "LKR", amount * per_wallet, now) for cid, *_ in rows],
        )
        entry_id = 0
        batch = []
        for step in range(per_wallet):
            for cid in range(1, customers + 1):
                entry_id += 1
                batch.append((entry_id, cid, "topup", amount, amount * (step + 1), "bench", "bench", f"B{entry_id}",
                              now + timedelta(seconds=entry_id)))
                if len(batch) == 50000:
                    _insert_entries(conn, engine, batch)
                    batch = []
        if batch:
            _insert_entries(conn, engine, batch)
        if engine.dialect.name == "postgresql":
            for table in ("customer", "customer_phone", "vehicle", "wallet", "wallet_entry"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        if engine.dialect.name == "postgresql":
            conn.commit()
    print(f"built {customers} customers, {entry_id} ledger rows in {time.perf_counter() - started:.1f} s", flush=True)
    return [(cid, phone) for cid, _n, phone, _a in rng.sample(rows, 300)]


def _reuse(engine, customers: int):
    from sqlalchemy import text

    with engine.connect() as conn:
        try:
            rows = conn.execute(text("SELECT id, phone FROM customer ORDER BY id")).all()
        except Exception:
            return None
    if len(rows) != customers:
        return None
    print(f"reusing {len(rows)} customers", flush=True)
    return random.Random(7).sample([tuple(r) for r in rows], 300)


def _stats(samples: list[float]) -> dict:
    samples = sorted(samples)
    return {"n": len(samples), "p50_ms": statistics.median(samples),
            "p95_ms": samples[int(0.95 * (len(samples) - 1))], "max_ms": samples[-1]}


def _marks(engine, n: int) -> str:
    return ", ".join(["?" if engine.dialect.name == "sqlite" else "%s"] * n)


def _insert_entries(conn, engine, batch) -> None:
    conn.exec_driver_sql(
        "INSERT INTO wallet_entry (id, wallet_id, entry_type, amount, balance_after, reason, source_type, source_ref, "
        "created_at) VALUES (%s)" % _marks(engine, 9),
        batch,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=1000)
    parser.add_argument("--db", help="SQLite file to build once and reuse on later runs")
    args = parser.parse_args()

    from sqlalchemy import select

    from app import create_app
    from app.extensions import db
    from app.models.customers import Customer
    from app.services.customers import balance_of, find_by_phone, lookup_customers

    tmp = Path(tempfile.mkdtemp())
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{Path(args.db).resolve() if args.db else tmp / 'lookup.db'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "VAR_DIR": tmp, "UPLOAD_DIR": tmp / "u"})
    print(f"database: {url.split('@')[-1]}", flush=True)
    with app.app_context():
        samples = _reuse(db.engine, args.customers) if args.db and Path(args.db).exists() else None
        samples = samples or build(db.engine, args.customers, args.entries)
        gc.collect()
        gc.freeze()  # the app's long-lived objects out of the collector's way, as a preloaded server does
        session = db.session
        rng = random.Random(11)
        picks = [(cid, rng.choice(_written_forms(phone))) for cid, phone in samples]
        state = {"i": 0}

        def next_pick():
            state["i"] = (state["i"] + 1) % len(picks)
            session.expunge_all()  # no identity-map shortcuts: every call goes to the database
            return picks[state["i"]]

        def pk_fetch():
            cid, _ = next_pick()
            return session.execute(select(Customer).where(Customer.id == cid)).scalar_one()

        def api_lookup():
            cid, written = next_pick()
            result = lookup_customers(session, phone=written)
            assert result and result[0]["id"] == cid and result[0]["balance"] is not None, (written, result)

        def core_lookup():
            cid, written = next_pick()
            customer = find_by_phone(session, written)
            assert customer.id == cid and balance_of(session, customer.id) is not None

        # interleaved: each round times all three back to back, so a busy machine slows them alike
        names = ["primary-key fetch (baseline)", "lookup (API: match+balance+phones+vehicles)", "find_by_phone + balance_of"]
        fns = [pk_fetch, api_lookup, core_lookup]
        for _ in range(50):
            for fn in fns:
                fn()
        samples_ms: list[list[float]] = [[], [], []]
        for _ in range(args.repeat):
            for k, fn in enumerate(fns):
                start = time.perf_counter()
                fn()
                samples_ms[k].append((time.perf_counter() - start) * 1000)
        stats = [_stats(s) for s in samples_ms]
        report(names[0], stats[0])
        for name, st in zip(names[1:], stats[1:]):
            report(name, st, stats[0], "p95 < 20 ms, ratio < 3")
            print(f"{'':<40} ratio(p50) {st['p50_ms'] / stats[0]['p50_ms']:6.2f}", flush=True)
        session.rollback()
        plan_sql = "EXPLAIN QUERY PLAN " if db.engine.dialect.name == "sqlite" else "EXPLAIN "
        from sqlalchemy import text

        plan = session.execute(text(
            plan_sql + "SELECT customer.id, wallet.balance FROM customer_phone JOIN customer ON customer.id = "
            "customer_phone.customer_id LEFT JOIN wallet ON wallet.customer_id = customer.id AND wallet.currency = 'LKR' "
            "WHERE customer_phone.phone = '+94771234567'")).all()
        print("plan:", " | ".join(str(row[-1]) for row in plan))


if __name__ == "__main__":
    main()
