"""Messaging fixtures: the real twilio SDK pointed at a local pytest-httpserver that plays Twilio's
REST API, webhooks signed with twilio's own RequestValidator, templates and groups from the demo."""
from __future__ import annotations

import itertools
import time

import pytest
from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
PUBLIC = "https://ops.chargeops.test"
FROM = "whatsapp:+94110000000"
MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
_sid = itertools.count(1)


def new_sid(prefix: str = "SM") -> str:
    return f"{prefix}{next(_sid):032x}"


def twilio_message(sid: str | None = None, status: str = "queued", to: str = "whatsapp:+94771234567") -> dict:
    """What Twilio answers to POST .../Messages.json."""
    return {
        "sid": sid or new_sid(), "account_sid": ACCOUNT_SID, "status": status, "to": to, "from": FROM,
        "body": "x", "num_media": "0", "num_segments": "1", "direction": "outbound-api", "api_version": "2010-04-01",
        "date_created": "Sat, 21 Nov 2026 00:00:00 +0000", "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/x.json",
    }


@pytest.fixture
def twilio(app, httpserver, tmp_path):
    """The app configured for Twilio at the local httpserver (restored afterwards)."""
    keys = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_WHATSAPP_FROM", "TWILIO_API_BASE_URL", "PUBLIC_BASE_URL",
            "MESSAGING_MEDIA_MAX_BYTES", "MESSAGING_HTTP_TIMEOUT_S")
    saved = {k: app.config.get(k) for k in keys}
    app.config.update(
        TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_WHATSAPP_FROM=FROM,
        TWILIO_API_BASE_URL=httpserver.url_for("/").rstrip("/"), PUBLIC_BASE_URL=PUBLIC,
        MESSAGING_MEDIA_MAX_BYTES=1024, MESSAGING_HTTP_TIMEOUT_S=5.0,
    )
    yield httpserver
    app.config.update(saved)


def sign(path: str, params: dict, token: str = AUTH_TOKEN, base: str = PUBLIC) -> str:
    return RequestValidator(token).compute_signature(base + path, params)


def post_signed(client, path: str, params: dict, signature: str | None = None):
    headers = {"X-Twilio-Signature": signature if signature is not None else sign(path, params)}
    return client.post(path, data=params, headers=headers)


def inbound_params(body: str = "Hello", phone: str = "+94771234567", sid: str | None = None, name: str = "Sunil", **extra) -> dict:
    return {
        "MessageSid": sid or new_sid(), "SmsMessageSid": sid or "", "AccountSid": ACCOUNT_SID,
        "From": f"whatsapp:{phone}", "To": FROM, "Body": body, "NumMedia": "0", "ProfileName": name,
        "WaId": phone.lstrip("+"), **extra,
    }


def receive(client, body: str = "Hello", **kw):
    params = inbound_params(body, **kw)
    response = post_signed(client, "/webhooks/twilio/whatsapp", params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return params


def wait_for(session, predicate, timeout: float = 20.0, what: str = "condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        session.expire_all()
        session.rollback()
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def answer_each_send(httpserver, status: str = "queued") -> None:
    """Twilio's Messages endpoint, a fresh SID per created message."""
    import json

    from werkzeug import Response

    def handler(request):
        to = request.form.get("To", "")
        return Response(json.dumps(twilio_message(status=status, to=to)), status=201, content_type="application/json")

    httpserver.expect_request(MESSAGES_PATH, method="POST").respond_with_handler(handler)


def create_requests(httpserver) -> list:
    return [req for req, _resp in httpserver.log if req.path == MESSAGES_PATH and req.method == "POST"]


@pytest.fixture
def templates(session):
    from app.demo.messaging import seed_groups, seed_templates

    seed_templates(session)
    seed_groups(session)
    session.commit()


@pytest.fixture
def customer(session):
    from app.models.customers import Customer

    c = Customer(name="Sunil Perera", phone="+94771234567", email="sunil@example.com")
    session.add(c)
    session.commit()
    return c


# --- every task a test queued has finished before the harness empties the tables ---------------
from celery.signals import after_task_publish, task_prerun, task_postrun  # noqa: E402

_published: set[str] = set()
_finished: set[str] = set()
_worker_seen: list[bool] = []


@after_task_publish.connect
def _on_publish(sender=None, headers=None, **_kw):
    if headers and headers.get("id"):
        _published.add(headers["id"])


@task_prerun.connect
def _on_prerun(**_kw):
    _worker_seen.append(True)


@task_postrun.connect
def _on_postrun(task_id=None, state=None, **_kw):
    if state in ("SUCCESS", "FAILURE"):
        _finished.add(task_id)


@pytest.fixture(autouse=True)
def _drain_tasks():
    """With the session's worker alive, a task still running while the tables are truncated can
    deadlock the truncate (PostgreSQL): wait for this test's tasks (retries included) to finish."""
    before = set(_published)
    yield
    if not _worker_seen:
        return
    mine = _published - before
    deadline = time.time() + 20
    while time.time() < deadline and not mine <= _finished:
        time.sleep(0.05)
