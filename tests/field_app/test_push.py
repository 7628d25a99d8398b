"""Web Push: the server encrypts each queued push for its subscription and posts it to the push service
(here a local stand-in); the test decrypts it with the subscription's own keys, as the phone would."""
from __future__ import annotations

import base64
import json
import os
import time

import http_ece
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import select
from werkzeug import Response

from app.models.base import utcnow
from app.models.field import PushDelivery, PushSubscription
from app.services.notifications import broadcast
from tests.field.conftest import user_id


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Phone:
    """A browser's push subscription: its P-256 key pair and auth secret."""

    def __init__(self):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)
        self.p256dh = b64(self.key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint))

    def subscribe(self, session, user, endpoint):
        session.add(PushSubscription(user_id=user, endpoint=endpoint, p256dh=self.p256dh, auth=b64(self.auth),
                                     active=True, created_at=utcnow()))
        session.commit()

    def decrypt(self, body: bytes) -> dict:
        return json.loads(http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth, version="aes128gcm"))


def _wait(check, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    return check()


def test_a_broadcast_reaches_the_phone_encrypted_for_it(app, session, httpserver, celery_worker, api_as):
    received = []

    def push_service(request):
        received.append((request.headers, request.get_data()))
        return Response(status=201)

    httpserver.expect_request("/push/installer-phone", method="POST").respond_with_handler(push_service)
    phone = Phone()
    # the stand-in speaks plain http on 127.0.0.1; the API accepts only https endpoints, so the row is made here
    phone.subscribe(session, user_id(session, "installer"), httpserver.url_for("/push/installer-phone"))
    broadcast(session, title="Site Kandy closed", body="Power cut until 14:00", role="Installer",
              channels=("inapp", "push"), by_user_id=user_id(session, "manager"))
    session.commit()

    assert _wait(lambda: received), "nothing reached the push service"
    headers, body = received[0]
    assert headers["Content-Encoding"] == "aes128gcm" and int(headers["TTL"]) > 0
    vapid = headers["Authorization"]
    assert vapid.startswith("vapid t=") and f"k={api_as('installer').get('/api/v1/push/vapid-public-key').json['public_key']}" in vapid
    payload = phone.decrypt(body)
    assert payload["title"] == "Site Kandy closed" and payload["body"] == "Power cut until 14:00"
    session.rollback()
    delivery = session.scalar(select(PushDelivery))
    assert _wait(lambda: session.rollback() or session.scalar(select(PushDelivery.status)) == "sent")
    assert delivery.notification_id == payload["notification_id"]
    assert len(received) == 1


def test_a_subscription_the_push_service_has_forgotten_is_switched_off(app, session, httpserver, celery_worker):
    httpserver.expect_request("/push/gone", method="POST").respond_with_data("", status=410)
    phone = Phone()
    phone.subscribe(session, user_id(session, "cpo"), httpserver.url_for("/push/gone"))
    broadcast(session, title="Test", body="Anyone there?", role="CPO", channels=("inapp", "push"))
    session.commit()
    assert _wait(lambda: session.rollback() or session.scalar(select(PushDelivery.status)) == "failed")
    assert session.scalar(select(PushSubscription.active)) is False


def test_subscribe_and_unsubscribe_from_the_app(api_as, session):
    api = api_as("dispatcher")
    phone = Phone()
    sub = {"endpoint": "https://push.example.net/send/abc", "keys": {"p256dh": phone.p256dh, "auth": b64(phone.auth)}}
    assert api.post("/api/v1/push/subscriptions", json=sub).status_code == 201
    assert api.delete("/api/v1/push/subscriptions", json={"endpoint": sub["endpoint"]}).status_code == 200
    session.rollback()
    assert session.scalar(select(PushSubscription.active)) is False
    assert api.delete("/api/v1/push/subscriptions", json={}).status_code == 400
    assert api_as("cpo").delete("/api/v1/push/subscriptions", json={"endpoint": sub["endpoint"]}).status_code == 404


def test_the_vapid_key_is_made_once_and_kept(app, tmp_path):
    from app.services.field_push import ensure_vapid_key, vapid_public_key

    path = ensure_vapid_key(tmp_path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert vapid_public_key(tmp_path) == vapid_public_key(tmp_path)
    assert ensure_vapid_key(tmp_path).read_bytes() == path.read_bytes()
