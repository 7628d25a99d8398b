"""Support Celery tasks: load by id, call a service, decide retries."""
from __future__ import annotations

from datetime import timedelta

from celery import shared_task

from app.extensions import db
from app.services.support_requests import classify_request
from app.services.support_alerts import check_sla
from app.services.support_requests import queue_classification, unclassified_request_ids
from app.services.support_alerts import send_reminders


@shared_task(name="support.classify_request", acks_late=True)
def classify_request_task(request_id: int) -> dict | None:
    """Classify (Claude or rules: the service never raises on API failure) and route one request."""
    request = classify_request(db.session, request_id)
    db.session.commit()
    if request is None:
        return None
    return {
        "id": request.id, "category": request.category, "urgency": request.urgency, "classifier": request.classifier,
        "priority": request.priority, "assignee_id": request.assignee_id, "status": request.status,
    }


@shared_task(name="support.check_sla")
def check_sla_task() -> int:
    return check_sla(db.session)


@shared_task(name="support.send_reminders")
def send_reminders_task() -> int:
    """Reminders for untouched work, and a retry for requests whose classification was never queued."""
    sent = send_reminders(db.session)
    for request_id in unclassified_request_ids(db.session, timedelta(minutes=10)):
        queue_classification(db.session, request_id)
    db.session.commit()
    return sent
