"""The API contract's edges: token errors, the login's tokens, API key state, JSON errors, the secret key."""
from __future__ import annotations

import stat

from app import development_secret_key
from tests.conftest import PASSWORD
from tests.test_app import _run


def test_a_malformed_or_missing_token_is_401_with_a_message(client):  # defect 11
    for headers in ({"Authorization": "Bearer not-a-jwt"}, {"Authorization": "Bearer a.b.c"}):
        response = client.get("/api/v1/departments/", headers=headers)
        assert response.status_code == 401 and "message" in response.json and "msg" not in response.json
    refresh = client.post("/api/v1/security/refresh")
    assert refresh.status_code == 401 and "message" in refresh.json


def test_an_expired_token_is_401_with_a_message(app, client):  # defect 11
    from datetime import timedelta

    from flask_jwt_extended import create_access_token

    with app.app_context():
        user = app.appbuilder.sm.find_user(username="manager")
        token = create_access_token(identity=str(user.id), expires_delta=timedelta(seconds=-60))
    response = client.get("/api/v1/departments/", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.json["message"] == "Token has expired"


def test_the_contracts_login_gives_both_tokens(client):  # defect 11
    body = {"username": "manager", "password": PASSWORD, "provider": "db"}
    tokens = client.post("/api/v1/security/login", json=body).json
    assert set(tokens) == {"access_token", "refresh_token"}
    refreshed = client.post("/api/v1/security/refresh", headers={"Authorization": f"Bearer {tokens['refresh_token']}"})
    assert refreshed.status_code == 200 and "access_token" in refreshed.json
    only_access = client.post("/api/v1/security/login", json={**body, "refresh": False}).json
    assert set(only_access) == {"access_token"}


def test_a_revoked_api_key_shows_inactive(api_as):  # defect 11
    api = api_as("manager")
    created = api.post("/api/v1/security/api_keys/", json={"name": "OEM feed"}).json["result"]
    assert api.get(f"/api/v1/security/api_keys/{created['uuid']}").json["result"]["active"] is True
    assert api.delete(f"/api/v1/security/api_keys/{created['uuid']}").status_code == 200
    shown = api.get(f"/api/v1/security/api_keys/{created['uuid']}").json["result"]
    assert shown["active"] is False and shown["revoked_on"]


def test_errors_on_the_api_are_json(api_as):  # defect 11
    api = api_as("manager")
    missing = api.get("/api/v1/no-such-resource/")
    assert missing.status_code == 404 and missing.is_json and missing.json["message"]
    wrong_method = api.delete("/api/v1/network/summary")
    assert wrong_method.status_code == 405 and wrong_method.is_json and wrong_method.json["message"]


def test_the_development_secret_key_is_random_private_and_kept(tmp_path):  # defect 12
    first = development_secret_key(tmp_path / "a")
    assert first == development_secret_key(tmp_path / "a")
    assert first != development_secret_key(tmp_path / "b") and len(first) >= 32
    assert stat.S_IMODE((tmp_path / "a" / "secret_key").stat().st_mode) == 0o600
    assert first != __import__("config").DEFAULT_SECRET_KEY


def test_a_development_app_without_secret_key_uses_the_kept_one(tmp_path):  # defect 12
    out = _run(
        "import json; from app import create_app\n"
        f"app = create_app({{'SECRET_KEY': None, 'SQLALCHEMY_DATABASE_URI': 'sqlite:///{tmp_path}/s.db', 'VAR_DIR': '{tmp_path}',"
        f" 'UPLOAD_DIR': '{tmp_path}/u'}})\n"
        "print(json.dumps({'key': app.config['SECRET_KEY']}))",
        SECRET_KEY="",
    )
    assert out["key"] == (tmp_path / "secret_key").read_text().strip()
    assert out["key"] != __import__("config").DEFAULT_SECRET_KEY
