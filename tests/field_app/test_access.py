"""The field app's routes against every role, as PERMISSION_MATRIX declares; the shell is public (no data)."""
from __future__ import annotations

import pytest

from app.security import ADMIN, PERMISSION_MATRIX, ROLES
from tests.test_security_matrix import USER_FOR_ROLE

# route -> the resource whose read grants it
READS = {
    "/api/v1/app/me": "FieldApp",
    "/api/v1/live/stream": "LiveStream",
    "/api/v1/network/map": "ChargerNetwork",
    "/api/v1/network/sessions/connectors": "ChargerNetwork",
    "/api/v1/app/customers/999999/sessions": "ChargingSession",
}
SHELL = ["/app/", "/app/manifest.webmanifest", "/app/sw.js", "/app/offline.html", "/app/icons/icon-192.png",
         "/app/icons/icon-512.png", "/app/icons/icon-512-maskable.png"]


def _allowed(role, resource):
    return role == ADMIN or role in PERMISSION_MATRIX.get(resource, {})


@pytest.fixture
def short_streams(app):
    old = app.config["LIVE_STREAM_SECONDS"]
    app.config["LIVE_STREAM_SECONDS"] = 0.2  # a stream that ends by itself: the walk reads it to the end
    yield
    app.config["LIVE_STREAM_SECONDS"] = old


@pytest.mark.parametrize("role", ROLES)
def test_field_app_routes_allow_and_refuse_as_declared(api_as, role, short_streams):
    api = api_as(USER_FOR_ROLE[role])
    wrong = []
    for url, resource in READS.items():
        status = api.get(url).status_code
        allowed = status in (200, 404) if url.endswith("/sessions") else status == 200
        if allowed != _allowed(role, resource) or status >= 500:
            wrong.append(f"{url}: {status}")
    # every signed-in person: the push key and their own subscriptions
    assert api.get("/api/v1/push/vapid-public-key").status_code == 200
    assert api.delete("/api/v1/push/subscriptions", json={"endpoint": "https://push.example/none"}).status_code == 404
    assert wrong == []


def test_the_shell_is_served_without_sign_in_and_holds_no_data(client):
    for url in SHELL:
        assert client.get(url).status_code == 200, url
    assert client.get("/app/icons/icon-64.png").status_code == 404
    assert client.get("/api/v1/app/me").status_code == 401
    assert client.get("/api/v1/live/stream").status_code == 401


def test_the_manifest_names_the_app_its_scope_and_icons(client):
    manifest = client.get("/app/manifest.webmanifest").json
    assert manifest["start_url"] == "/app/" and manifest["scope"] == "/app/" and manifest["display"] == "standalone"
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["icons"]:
        response = client.get(icon["src"])
        assert response.mimetype == "image/png" and response.data[:8] == b"\x89PNG\r\n\x1a\n"


def test_me_tells_the_app_what_the_person_may_use(api_as):
    cpo = api_as("cpo").get("/api/v1/app/me").json
    agent = api_as("agent").get("/api/v1/app/me").json
    assert cpo["user"]["username"] == "cpo" and cpo["can"]["commands"] and cpo["can"]["issues"]
    assert agent["can"]["force_charge"] and not agent["can"]["commands"] and not agent["can"]["issues"]
    assert len(cpo["config"]["vapid_public_key"]) == 87  # a raw P-256 point, base64url


def test_a_revoked_person_is_out_at_the_next_refresh(client, session):
    from flask_appbuilder.security.sqla.models import User

    from tests.conftest import PASSWORD

    tokens = client.post("/api/v1/security/login", json={"username": "installer", "password": PASSWORD, "provider": "db"}).json
    refresh = {"Authorization": f"Bearer {tokens['refresh_token']}"}
    renewed = client.post("/api/v1/security/refresh", headers=refresh)
    assert renewed.status_code == 200 and renewed.json["access_token"]
    user = session.query(User).filter_by(username="installer").one()
    user.active = False
    session.commit()
    refused = client.post("/api/v1/security/refresh", headers=refresh)
    assert refused.status_code == 401 and "message" in refused.json


def test_a_release_that_changes_the_shell_changes_the_service_worker(client, monkeypatch, tmp_path):
    """Installed phones keep the shell cached; a new digest in sw.js is what makes them fetch the new one."""
    from app.views import field_app as view

    first = client.get("/app/sw.js").get_data(as_text=True)
    assert 'var VERSION = "chargeops-field-' in first and "chargeops-field-v1" not in first
    changed = tmp_path / "app.js"
    changed.write_text((view.STATIC / "app.js").read_text() + "\n// next release\n")
    monkeypatch.setattr(view, "SHELL_SOURCES", tuple(changed if p.name == "app.js" else p for p in view.SHELL_SOURCES))
    second = client.get("/app/sw.js").get_data(as_text=True)
    version = lambda body: body.split('var VERSION = "', 1)[1].split('"', 1)[0]  # noqa: E731
    assert version(first) != version(second)
