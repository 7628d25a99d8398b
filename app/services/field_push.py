"""Web Push: VAPID keys made on first run (under VAR_DIR), and delivery of the queued push_delivery rows.

`notifications.queue_push` writes a pending row per subscription and queues `field.deliver_push` through
the outbox. The task claims each pending row (pending -> sending, committed) before the push service is
called, so a row is posted at most once; the answer marks it sent or failed, and a subscription the push
service says is gone (404/410) is switched off.
"""
from __future__ import annotations

import base64
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Optional

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.field import PushDelivery, PushSubscription
from py_vapid import Vapid
from pywebpush import WebPushException, webpush

log = logging.getLogger(__name__)

GONE = (404, 410)  # the push service forgot the subscription: never again


def vapid_key_path(var_dir=None) -> Path:
    return Path(var_dir or current_app.config["VAR_DIR"]) / "vapid_private.pem"


def ensure_vapid_key(var_dir=None) -> Path:
    """The server's VAPID key pair, generated once and kept (mode 0600); concurrent first runs agree on one."""

    path = vapid_key_path(var_dir)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    vapid = Vapid()
    vapid.generate_keys()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".vapid-")
    os.close(fd)
    os.chmod(tmp, 0o600)
    vapid.save_key(tmp)
    try:
        os.link(tmp, path)  # atomic: the first process to get here wins
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    return path


def vapid_public_key(var_dir=None) -> str:
    """The application server key a browser subscribes with: the raw P-256 point, base64url without padding."""

    vapid = Vapid.from_file(str(ensure_vapid_key(var_dir)))
    raw = vapid.public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unsubscribe(session: Session, user_id: int, endpoint: str) -> bool:
    """Switch off the caller's own subscription for this endpoint (True when there was one)."""
    return bool(session.execute(
        update(PushSubscription).where(PushSubscription.user_id == user_id, PushSubscription.endpoint == endpoint,
                                       PushSubscription.active.is_(True)).values(active=False)
    ).rowcount)


def claim_deliveries(session: Session, notification_id: Optional[int] = None) -> list[int]:
    """Pending rows (of one notification, or all) moved to `sending`; only what this call moved is returned."""
    query = select(PushDelivery.id).where(PushDelivery.status == "pending")
    if notification_id is not None:
        query = query.where(PushDelivery.notification_id == notification_id)
    claimed = []
    for delivery_id in session.scalars(query.order_by(PushDelivery.id).limit(500)).all():
        moved = session.execute(update(PushDelivery).where(PushDelivery.id == delivery_id,
                                                          PushDelivery.status == "pending").values(status="sending"))
        if moved.rowcount:
            claimed.append(delivery_id)
    return claimed


def payload_of(delivery: PushDelivery) -> dict:
    return {"title": delivery.title, "body": delivery.body, "link": delivery.link,
            "notification_id": delivery.notification_id, "delivery_id": delivery.id}


def send_delivery(session: Session, delivery_id: int) -> str:
    """Post one claimed row to its push service, encrypted for the subscription; returns the new status."""

    delivery = session.get(PushDelivery, delivery_id)
    if delivery is None or delivery.status != "sending":
        return "skipped"
    subscription = delivery.subscription
    if not subscription.active:
        delivery.status = "failed"
        return delivery.status
    config = current_app.config
    try:
        webpush(
            {"endpoint": subscription.endpoint, "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth}},
            data=json.dumps(payload_of(delivery)),
            vapid_private_key=str(ensure_vapid_key()),
            vapid_claims={"sub": config["PUSH_VAPID_SUBJECT"]},
            ttl=config["PUSH_TTL_SECONDS"],
            timeout=config["PUSH_TIMEOUT_SECONDS"],
        )
    except WebPushException as exc:
        status = getattr(exc.response, "status_code", None)
        if status in GONE:
            subscription.active = False
        log.warning("push %s to subscription %s failed: %s", delivery.id, subscription.id, status or exc)
        delivery.status = "failed"
        return delivery.status
    except Exception as exc:  # the push service unreachable: the row stays failed, the feed still has it
        log.warning("push %s to subscription %s failed: %s", delivery.id, subscription.id, exc)
        delivery.status = "failed"
        return delivery.status
    delivery.status, delivery.sent_at = "sent", utcnow()
    return delivery.status
