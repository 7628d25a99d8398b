"""0016 moves each ticket's free-text charger to a foreign key by cid, and keeps unmatched text readable."""
from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import create_engine, text

from tests.test_migrations import ROOT, _fresh_database_url


def _upgrade(env, target):
    result = subprocess.run([sys.executable, "-m", "flask", "db", "upgrade", target], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def test_ticket_charger_text_becomes_a_registry_link(tmp_path, app):
    url = _fresh_database_url(tmp_path)
    env = {**os.environ, "DATABASE_URL": url, "FLASK_APP": "app:create_app", "CHARGEOPS_VAR_DIR": str(tmp_path)}
    try:
        _upgrade(env, "0009_message_dedup")
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO charger (cid, name, type, unregistered, offline, commands_sent, created_at) "
                              "VALUES ('CP-MIG-1', 'm', 'L2', false, true, 0, CURRENT_TIMESTAMP)"))
            for title, ref in (("known", "CP-MIG-1"), ("unknown", "somewhere near the mall"), ("none", None)):
                conn.execute(text("INSERT INTO support_ticket (title, description, priority, status, charger_ref, created_at, "
                                  "updated_at, reopen_count) VALUES (:t, 'd.', 'Medium', 'Open', :r, CURRENT_TIMESTAMP, "
                                  "CURRENT_TIMESTAMP, 0)"), {"t": title, "r": ref})
        engine.dispose()
        _upgrade(env, "head")
        engine = create_engine(url)
        with engine.connect() as conn:
            rows = {r.title: r for r in conn.execute(text(
                "SELECT t.title, t.description, c.cid FROM support_ticket t LEFT JOIN charger c ON c.id = t.charger_id"))}
        engine.dispose()
        assert rows["known"].cid == "CP-MIG-1" and rows["known"].description == "d."
        assert rows["unknown"].cid is None and rows["unknown"].description.endswith("Charger (not in the registry): somewhere near the mall")
        assert rows["none"].cid is None and rows["none"].description == "d."
    finally:
        if url.startswith("postgresql"):
            from tests.conftest import _drop_postgres_database

            _drop_postgres_database(url)
