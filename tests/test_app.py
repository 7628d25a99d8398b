"""The app factory, configuration, health and the login rate limit."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import ConfigurationError, create_app

ROOT = Path(__file__).resolve().parent.parent


def test_health_reports_every_real_part(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "db": "ok", "redis": "ok", "mqtt": "ok"}


def test_production_refuses_the_default_secret_key():
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        create_app({"CHARGEOPS_ENV": "production"})


def _run(code: str, **env) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, **env},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_mode_enforces_https_and_secure_cookies(tmp_path):
    out = _run(
        "import json; from flask_appbuilder import Model; from app import create_app; from app.extensions import db\n"
        "app = create_app({'CHARGEOPS_ENV': 'production', 'SECRET_KEY': 's3cret', 'TRUSTED_PROXY_HOPS': 1,"
        f" 'SQLALCHEMY_DATABASE_URI': 'sqlite:///{tmp_path}/p.db', 'VAR_DIR': '{tmp_path}', 'UPLOAD_DIR': '{tmp_path}/u'}})\n"
        "ctx = app.app_context(); ctx.push(); Model.metadata.create_all(db.engine); app.appbuilder.sm.sync_roles()\n"
        "c = app.test_client(); r = c.get('/login/', base_url='http://localhost')\n"
        "s = c.get('/login/', base_url='http://localhost', headers={'X-Forwarded-Proto': 'https'})\n"
        "print(json.dumps({'status': r.status_code, 'location': r.headers.get('Location'),"
        " 'secure': app.config['SESSION_COOKIE_SECURE'], 'https_status': s.status_code,"
        " 'hsts': s.headers.get('Strict-Transport-Security')}))",
    )
    assert out["status"] == 301 and out["location"].startswith("https://")
    assert out["secure"] is True and out["https_status"] == 200 and out["hsts"]


def test_login_is_rate_limited_by_flask_appbuilder(tmp_path):
    """Default config (10 per 20 s): the 11th login attempt in a burst is refused with 429."""
    out = _run(
        "import json; from flask_appbuilder import Model; from app import create_app; from app.extensions import db\n"
        f"app = create_app({{'SQLALCHEMY_DATABASE_URI': 'sqlite:///{tmp_path}/r.db', 'VAR_DIR': '{tmp_path}', 'UPLOAD_DIR': '{tmp_path}/u',"
        f" 'RATELIMIT_KEY_PREFIX': 'rl-{tmp_path.name}-{os.getpid()}'}})\n"
        "ctx = app.app_context(); ctx.push(); Model.metadata.create_all(db.engine)\n"
        "c = app.test_client()\n"
        "codes = [c.post('/api/v1/security/login', json={'username': 'x', 'password': 'y', 'provider': 'db'}).status_code for _ in range(12)]\n"
        "print(json.dumps({'codes': codes}))",
    )
    assert out["codes"][:10] == [401] * 10
    assert out["codes"][-1] == 429
