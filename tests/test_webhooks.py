"""Defect 11: the signed `POST /api/v1/webhooks/<source>` exactly as the contract (v1.1) says, and the
Admin's registry of sources."""
from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select

from app.models.chargers import Charger, ChargerMessage
from app.models.messaging import Alert, NotificationGroup
from app.models.webhooks import WebhookDelivery, WebhookSource
from app.security import ADMIN, ROLES
from app.services.webhooks import signature_for
from tests.test_security_matrix import USER_FOR_ROLE

SECRET = "source-secret-for-tests"


@pytest.fixture
def source(session):
    group = NotificationGroup(code="noc", name="Network operations", whatsapp=False)
    session.add(group)
    session.flush()
    src = WebhookSource(code="monitoring", name="Site monitoring", secret=SECRET, group_id=group.id)
    session.add_all([src, Charger(cid="CP-WH-1", name="Webhook charger")])
    session.commit()
    return src


def _signed(body: dict | bytes, secret=SECRET, at=None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    stamp = str(int(at if at is not None else time.time()))
    return raw, {"X-ChargeOps-Timestamp": stamp, "X-ChargeOps-Signature": f"sha256={signature_for(secret, stamp, raw)}",
                 "Content-Type": "application/json"}


def _post(client, raw, headers, code="monitoring"):
    return client.post(f"/api/v1/webhooks/{code}", data=raw, headers=headers)


def _count(session, model):
    session.rollback()
    return session.scalar(select(func.count()).select_from(model))


def _wait_for(session, condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        session.rollback()
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_a_signed_charger_event_becomes_an_alert_and_a_charger_log_entry(client, session, source, celery_worker):
    raw, headers = _signed({"event": "overheat", "title": "CP-WH-1 is overheating", "charger_cid": "CP-WH-1",
                            "temperature_c": 81})
    response = _post(client, raw, headers)
    assert response.status_code == 202 and response.json["id"]
    alert = _wait_for(session, lambda: session.scalar(select(Alert).where(Alert.kind == "webhook_overheat")))
    assert alert.group.code == "noc" and alert.title == "CP-WH-1 is overheating" and alert.ref_id == "CP-WH-1"
    entry = _wait_for(session, lambda: session.scalar(select(ChargerMessage).where(ChargerMessage.action == "Webhook:monitoring")))
    assert entry.charger.cid == "CP-WH-1" and json.loads(entry.payload)["temperature_c"] == 81


def test_a_replay_is_200_and_stores_nothing_new(client, session, source):
    raw, headers = _signed({"event": "door_open", "title": "Cabinet door open"})
    assert _post(client, raw, headers).status_code == 202
    again = _post(client, raw, headers)
    assert again.status_code == 200 and _count(session, WebhookDelivery) == 1


@pytest.mark.parametrize("case", ["unsigned", "forged", "wrong_secret", "too_old", "future", "body_changed", "bad_stamp"])
def test_unsigned_forged_or_stale_is_401_and_stores_nothing(client, session, source, case):
    raw, headers = _signed({"event": "door_open"})
    if case == "unsigned":
        headers = {"Content-Type": "application/json"}
    elif case == "forged":
        headers["X-ChargeOps-Signature"] = "sha256=" + "0" * 64
    elif case == "wrong_secret":
        raw, headers = _signed({"event": "door_open"}, secret="another")
    elif case == "too_old":
        raw, headers = _signed({"event": "door_open"}, at=time.time() - 301)
    elif case == "future":
        raw, headers = _signed({"event": "door_open"}, at=time.time() + 301)
    elif case == "body_changed":
        raw = json.dumps({"event": "door_closed"}).encode()
    elif case == "bad_stamp":
        headers["X-ChargeOps-Timestamp"] = "yesterday"
    response = _post(client, raw, headers)
    assert response.status_code == 401 and response.json["message"]
    assert _count(session, WebhookDelivery) == 0 and _count(session, Alert) == 0


def test_an_unknown_or_inactive_source_is_404(client, session, source):
    raw, headers = _signed({"event": "door_open"})
    assert _post(client, raw, headers, code="nobody").status_code == 404
    source = session.get(WebhookSource, source.id)
    source.active = False
    session.commit()
    assert _post(client, raw, headers).status_code == 404


def test_a_signed_body_that_is_not_an_event_is_400(client, session, source):
    for body in (b"not json", b"[1, 2]", json.dumps({"title": "no event"}).encode()):
        raw, headers = _signed(body)
        response = _post(client, raw, headers)
        assert response.status_code == 400 and response.json["message"], body
    assert _count(session, WebhookDelivery) == 0


@pytest.mark.parametrize("role", ROLES)
def test_a_login_is_not_a_signature(api_as, session, source, role):
    """Every role's JWT is refused on the receiver; only Admin manages the sources."""
    api = api_as(USER_FOR_ROLE[role])
    assert api.post("/api/v1/webhooks/monitoring", json={"event": "x"}).status_code == 401
    listed = api.get("/api/v1/webhook-sources/")
    assert (listed.status_code == 200) == (role == ADMIN)
    if role == ADMIN:
        assert "secret" not in listed.json["result"][0]


def test_admin_registers_a_source_and_its_secret_signs(api_as, client, session):
    api = api_as("admin")
    group = NotificationGroup(code="ops2", name="Ops", whatsapp=False)
    session.add(group)
    session.commit()
    bad = api.post("/api/v1/webhook-sources/", json={"code": "Bad Code!", "name": "x", "group": group.id})
    assert bad.status_code == 400 and _count(session, WebhookSource) == 0
    created = api.post("/api/v1/webhook-sources/", json={"code": "scada", "name": "SCADA", "group": group.id})
    assert created.status_code == 201, created.json
    secret = created.json["secret"]
    assert "secret" not in api.get(f"/api/v1/webhook-sources/{created.json['id']}").json["result"]
    raw, headers = _signed({"event": "ping"}, secret=secret)
    assert _post(client, raw, headers, code="scada").status_code == 202
    rotated = api.post(f"/api/v1/webhook-sources/{created.json['id']}/secret").json["secret"]
    raw, headers = _signed({"event": "ping2"}, secret=secret)
    assert _post(client, raw, headers, code="scada").status_code == 401
    raw, headers = _signed({"event": "ping2"}, secret=rotated)
    assert _post(client, raw, headers, code="scada").status_code == 202


def test_the_admin_screen_lists_sources(web_as, source):
    assert "Site monitoring" in web_as("admin").get("/webhooksourceview/list/").get_data(as_text=True)
    assert web_as("manager").get("/webhooksourceview/list/").status_code == 403
