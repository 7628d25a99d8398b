"""Signed webhooks from external systems (API contract v1.1, `POST /api/v1/webhooks/<source>`).

A registered source signs `timestamp + "." + raw body` with HMAC-SHA256 and its own secret:
`X-ChargeOps-Signature: sha256=<hex>`, `X-ChargeOps-Timestamp: <unix seconds>`. A body signed more
than WEBHOOK_WINDOW_SECONDS away from now is refused (401) like an unsigned or forged one; an accepted
body is stored once (the unique source + signature), a replay stores nothing new. What it says becomes
an alert to the source's notification group and, for a charger event, an entry in that charger's log;
both are made by the worker (`webhooks.process_delivery`), queued through the outbox."""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import datetime, timezone
from typing import Optional

from flask import current_app
from marshmallow import INCLUDE, Schema, ValidationError, fields, validate
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.chargers import Charger, ChargerMessage
from app.models.webhooks import WebhookDelivery, WebhookSource
from app.services import InvalidInput, NotFound, ServiceError
from app.services.outbox import enqueue_after_commit
from app.api.schemas import describe_errors
from app.services.messaging_alerts import alert_group


class Unsigned(ServiceError):
    status = 401


class WebhookEvent(Schema):
    """What a source sends; other fields are kept in the stored body and the charger's log."""

    class Meta:
        unknown = INCLUDE

    event = fields.String(required=True, validate=validate.Length(min=1, max=40))
    title = fields.String(validate=validate.Length(min=1, max=200))
    message = fields.String(allow_none=True, validate=validate.Length(max=5000))
    charger_cid = fields.String(allow_none=True, validate=validate.Length(min=1, max=48))


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def signature_for(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def _checked_signature(source: WebhookSource, timestamp: Optional[str], signature: Optional[str], body: bytes,
                       now: datetime) -> tuple[str, datetime]:
    if not timestamp or not signature or not signature.startswith("sha256="):
        raise Unsigned("sign the body: X-ChargeOps-Timestamp and X-ChargeOps-Signature: sha256=<hex>")
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise Unsigned("X-ChargeOps-Timestamp must be unix seconds")
    sent_at = datetime.fromtimestamp(int(timestamp), timezone.utc).replace(tzinfo=None)
    if abs((now - sent_at).total_seconds()) > current_app.config["WEBHOOK_WINDOW_SECONDS"]:
        raise Unsigned("the signature is outside the 5-minute window")
    expected = signature_for(source.secret, timestamp, body)
    if not hmac.compare_digest(expected, signature[len("sha256="):].strip().lower()):
        raise Unsigned("the signature does not match")
    return expected, sent_at


def receive_webhook(session: Session, code: str, body: bytes, *, timestamp: Optional[str], signature: Optional[str],
                    now: Optional[datetime] = None) -> tuple[WebhookDelivery, bool]:
    """Store a signed delivery once; (delivery, True) when new, (the first one, False) for a replay.
    Caller commits (the processing is queued with the commit)."""
    now = now or utcnow()
    source = session.scalar(select(WebhookSource).where(WebhookSource.code == code, WebhookSource.active.is_(True)))
    if source is None:
        raise NotFound(f"no webhook source {code}")
    digest, sent_at = _checked_signature(source, timestamp, signature, body, now)
    replay = session.scalar(select(WebhookDelivery).where(WebhookDelivery.source_id == source.id,
                                                          WebhookDelivery.signature == digest))
    if replay is not None:
        return replay, False
    try:
        text = body.decode("utf-8")
        payload = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        raise InvalidInput("the body is not JSON") from None
    if not isinstance(payload, dict):
        raise InvalidInput("send a JSON object")
    try:
        event = WebhookEvent().load(payload)
    except ValidationError as exc:

        raise InvalidInput(describe_errors(exc.messages)) from None
    delivery = WebhookDelivery(source_id=source.id, signature=digest, sent_at=sent_at, body=text,
                               charger_cid=event.get("charger_cid"), received_at=now)
    try:
        with session.begin_nested():
            session.add(delivery)
    except IntegrityError:  # the same body arrived twice at once: the first one counts
        return session.scalar(select(WebhookDelivery).where(WebhookDelivery.source_id == source.id,
                                                            WebhookDelivery.signature == digest)), False
    enqueue_after_commit(session, "webhooks.process_delivery", delivery.id)
    return delivery, True


def process_delivery(session: Session, delivery_id: int) -> Optional[WebhookDelivery]:
    """The alert to the source's group and the charger's log entry, once per delivery. Caller commits."""

    delivery = session.get(WebhookDelivery, delivery_id, with_for_update=True)
    if delivery is None or delivery.processed_at is not None:
        return delivery
    source = delivery.source
    event = json.loads(delivery.body)
    charger = None
    if delivery.charger_cid:
        charger = session.scalar(select(Charger).where(Charger.cid == delivery.charger_cid))
    title = event.get("title") or (f"{source.name}: {event['event']}" + (f" on {delivery.charger_cid}" if delivery.charger_cid else ""))
    body = event.get("message")
    if delivery.charger_cid and charger is None:
        body = f"{body or ''}\n(charger {delivery.charger_cid} is not in the registry)".strip()
    alert = alert_group(
        session, source.group.code, kind=f"webhook_{event['event']}"[:40], title=title[:200], body=body,
        ref_type="charger" if delivery.charger_cid else "webhook",
        ref_id=delivery.charger_cid or delivery.id,
    )
    delivery.alert_id = alert.id if alert is not None else None
    if charger is not None:
        session.add(ChargerMessage(
            charger_id=charger.id, direction="in", action=f"Webhook:{source.code}"[:60], msg_id=str(delivery.id),
            dedup_key=f"webhook:{delivery.id}", payload=delivery.body, received_at=delivery.received_at,
        ))
    delivery.processed_at = utcnow()
    session.flush()
    return delivery
