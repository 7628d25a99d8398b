"""Defect 8: logging out and changing a password end every older session cookie and JWT; the refresh
endpoint refuses a revoked or deactivated person; passwords follow a policy; the login limit is kept in
Redis (memory while Redis is away) and a forged X-Forwarded-For does not reset it."""
from __future__ import annotations

import os
import uuid

from tests.conftest import PASSWORD, csrf_token
from tests.test_app import _run

NEW_PASSWORD = "Charge-0ps-2026!"


def _tokens(client, username="manager", password=PASSWORD):
    response = client.post("/api/v1/security/login", json={"username": username, "password": password, "provider": "db"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


def _replay_cookie(app, cookie_value):
    """A second browser presenting a copied session cookie."""
    other = app.test_client()
    other.set_cookie("session", cookie_value)
    return other


def _change_own_password(web, new, confirm=None):
    page = web.get("/resetmypassword/form").get_data(as_text=True)
    return web.post(
        "/resetmypassword/form",
        data={"password": new, "conf_password": confirm or new, "csrf_token": csrf_token(page)},
    )


def test_logout_ends_the_old_cookie_and_every_older_jwt(app, client, web_as):
    tokens = _tokens(client)
    web = web_as("manager")
    assert web.get("/api/v1/departments/").status_code == 200
    old_cookie = web.get_cookie("session").value
    web.get("/logout/")
    assert _replay_cookie(app, old_cookie).get("/api/v1/departments/").status_code == 401
    refused = client.get("/api/v1/departments/", headers=_bearer(tokens["access_token"]))
    assert refused.status_code == 401 and refused.json["message"] == "Token has been revoked"
    assert client.post("/api/v1/security/refresh", headers=_bearer(tokens["refresh_token"])).status_code == 401
    fresh = _tokens(client)  # signing in again works
    assert client.get("/api/v1/departments/", headers=_bearer(fresh["access_token"])).status_code == 200


def test_the_api_logout_ends_the_callers_tokens(client):
    tokens = _tokens(client)
    other_device = _tokens(client)
    assert client.post("/api/v1/security/logout", headers=_bearer(tokens["access_token"])).status_code == 200
    for token in (tokens["access_token"], other_device["access_token"]):
        assert client.get("/api/v1/departments/", headers=_bearer(token)).status_code == 401
    assert client.post("/api/v1/security/refresh", headers=_bearer(tokens["refresh_token"])).status_code == 401


def test_a_password_change_ends_older_sign_ins_but_keeps_this_browser(app, client, web_as):
    tokens = _tokens(client)
    web = web_as("manager")
    old_cookie = web.get_cookie("session").value
    response = _change_own_password(web, NEW_PASSWORD)
    assert response.status_code == 302
    assert web.get("/api/v1/departments/").status_code == 200  # the browser that changed it stays signed in
    assert _replay_cookie(app, old_cookie).get("/api/v1/departments/").status_code == 401
    assert client.get("/api/v1/departments/", headers=_bearer(tokens["access_token"])).status_code == 401
    assert client.post("/api/v1/security/refresh", headers=_bearer(tokens["refresh_token"])).status_code == 401
    assert client.post("/api/v1/security/login", json={"username": "manager", "password": PASSWORD, "provider": "db"}).status_code == 401
    _tokens(client, password=NEW_PASSWORD)


def test_a_weak_password_is_refused(client, web_as):
    web = web_as("manager")
    for weak in ("x", "abcdefghijkl", "1234567890", "aaaaaaaaa1"):
        response = _change_own_password(web, weak)
        assert response.status_code == 200 and "at least 10 characters" in response.get_data(as_text=True), weak
    _tokens(client)  # the password did not change
    assert client.post("/api/v1/security/login", json={"username": "manager", "password": "x", "provider": "db"}).status_code == 401


def test_refresh_refuses_a_deactivated_person(app, client, session):
    tokens = _tokens(client, "agent")
    user = app.appbuilder.sm.find_user(username="agent")
    user.active = False
    session.commit()
    refused = client.post("/api/v1/security/refresh", headers=_bearer(tokens["refresh_token"]))
    assert refused.status_code == 401 and "message" in refused.json
    assert client.get("/api/v1/calls/", headers=_bearer(tokens["access_token"])).status_code == 401


def _login_burst(tmp_path, extra: str, headers_expr: str) -> list[int]:
    prefix = f"rl-{uuid.uuid4().hex[:8]}-{os.getpid()}"
    out = _run(
        "import json; from flask_appbuilder import Model; from app import create_app; from app.extensions import db\n"
        f"app = create_app({{'SQLALCHEMY_DATABASE_URI': 'sqlite:///{tmp_path}/r.db', 'VAR_DIR': '{tmp_path}',"
        f" 'UPLOAD_DIR': '{tmp_path}/u', 'RATELIMIT_KEY_PREFIX': '{prefix}', {extra}}})\n"
        "ctx = app.app_context(); ctx.push(); Model.metadata.create_all(db.engine)\n"
        "c = app.test_client()\n"
        "codes = [c.post('/api/v1/security/login', json={'username': 'x', 'password': 'y', 'provider': 'db'},"
        f" headers={headers_expr}).status_code for i in range(12)]\n"
        "print(json.dumps({'codes': codes, 'storage': app.config['RATELIMIT_STORAGE_URI']}))",
    )
    return out["codes"], out["storage"]


def test_a_rotating_x_forwarded_for_does_not_reset_the_login_limit(tmp_path):
    codes, storage = _login_burst(tmp_path, "'AUTH_RATE_LIMIT': '10 per 20 second'", "{'X-Forwarded-For': f'203.0.113.{i}'}")
    assert storage.startswith("redis://")  # the default: one count for every worker
    assert codes[:10] == [401] * 10 and codes[-1] == 429


def test_behind_one_proxy_only_the_proxys_own_entry_counts(tmp_path):
    codes, _ = _login_burst(
        tmp_path, "'TRUSTED_PROXY_HOPS': 1", "{'X-Forwarded-For': f'198.51.100.{i}, 10.0.0.5'}"
    )
    assert codes[:10] == [401] * 10 and codes[-1] == 429


def test_the_login_limit_holds_in_memory_while_redis_is_away(tmp_path):
    codes, _ = _login_burst(tmp_path, "'RATELIMIT_STORAGE_URI': 'redis://127.0.0.1:1/0'", "{}")
    assert codes[:10] == [401] * 10 and codes[-1] == 429
