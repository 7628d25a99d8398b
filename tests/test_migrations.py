"""`flask db upgrade` builds a fresh database that matches the models exactly."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_appbuilder import Model
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent


def _fresh_database_url(tmp_path) -> str:
    base = os.environ.get("TEST_DATABASE_URL")
    if not base or not base.startswith("postgresql"):
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    name = f"chargeops_mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(base).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return str(make_url(base).set(database=name))


def test_upgrade_builds_a_database_identical_to_the_models(tmp_path, app):
    url = _fresh_database_url(tmp_path)
    env = {**os.environ, "DATABASE_URL": url, "FLASK_APP": "app:create_app", "CHARGEOPS_VAR_DIR": str(tmp_path)}
    try:
        result = subprocess.run(
            [sys.executable, "-m", "flask", "db", "upgrade"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stderr[-3000:]
        engine = create_engine(url)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Model.metadata)
        engine.dispose()
        assert diff == [], f"models and migrations disagree: {diff[:10]}"
    finally:
        if url.startswith("postgresql"):
            from tests.conftest import _drop_postgres_database

            _drop_postgres_database(url)
