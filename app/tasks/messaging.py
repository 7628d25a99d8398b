"""Messaging Celery tasks: load by id, call a service, decide retries.

acks_late is on for the three per-message tasks: each claims or checks its row first, so a task
redelivered after a worker died never calls the provider a second time."""
from __future__ import annotations

from celery import shared_task

import config
from app.extensions import db
from app.services.messaging import TransientSendError
from app.services.messaging_media import TransientMediaError
from app.services.outbox import enqueue_after_commit
from app.services.messaging_outbound import deliver_message
from app.services.messaging_inbound import classify_message
from app.services.messaging_media import store_media
from app.services.messaging_outbound import sweep_outbox
from app.services.messaging_media import pending_media_ids


@shared_task(
    bind=True, name="messaging.send_message", acks_late=True, autoretry_for=(TransientSendError,),
    retry_backoff=True, retry_backoff_max=600, max_retries=config.MESSAGING_SEND_MAX_RETRIES,
)
def send_message_task(self, message_id: int) -> dict | None:
    """Send one queued WhatsApp message or e-mail; the service makes the provider call at most once."""
    message = deliver_message(db.session, message_id, final_attempt=self.request.retries >= self.max_retries)
    if message is None:
        return None
    return {"id": message.id, "status": message.status, "provider_sid": message.provider_sid, "attempts": message.attempts}


@shared_task(name="messaging.classify_message", acks_late=True)
def classify_message_task(message_id: int) -> dict | None:
    """Classify an inbound WhatsApp message (Claude or rules) and route its conversation."""
    message = classify_message(db.session, message_id)
    db.session.commit()
    if message is None:
        return None
    return {"id": message.id, "category": message.category, "urgency": message.urgency, "priority": message.priority}


@shared_task(
    bind=True, name="messaging.download_media", acks_late=True, autoretry_for=(TransientMediaError,),
    retry_backoff=True, retry_backoff_max=600, max_retries=config.MESSAGING_SEND_MAX_RETRIES,
)
def download_media_task(self, media_id: int) -> dict | None:
    media = store_media(db.session, media_id, final_attempt=self.request.retries >= self.max_retries)
    if media is None:
        return None
    return {"id": media.id, "status": media.status, "size": media.size, "error": media.error}


@shared_task(name="messaging.sweep")
def sweep_task() -> dict:
    """Re-queue sends and media downloads that were never queued; flag sends stuck mid-call."""
    result = sweep_outbox(db.session)
    ids = pending_media_ids(db.session)
    for media_id in ids:
        enqueue_after_commit(db.session, "messaging.download_media", media_id)
    db.session.commit()
    return {**result, "media": len(ids)}
