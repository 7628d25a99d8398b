"""Webhook Celery tasks: load by id, call a service."""
from __future__ import annotations

from celery import shared_task

from app.extensions import db
from app.services.webhooks import process_delivery


@shared_task(name="webhooks.process_delivery", acks_late=True)
def process_delivery_task(delivery_id: int) -> dict | None:
    """Turn an accepted webhook into its alert and charger log entry (once: the delivery is marked processed)."""

    delivery = process_delivery(db.session, delivery_id)
    db.session.commit()
    if delivery is None:
        return None
    return {"id": delivery.id, "alert_id": delivery.alert_id, "charger_cid": delivery.charger_cid}
