"""People tasks."""
from __future__ import annotations

from celery import shared_task

from app.extensions import db
from app.services.activity import record_activity


@shared_task(name="people.record_activity", ignore_result=False)
def record_activity_task(user_id: int | None, kind: str, description: str, ref_type: str | None = None,
                         ref_id: int | None = None) -> int:
    """Append to a person's activity log off the request path; returns the log entry id."""
    entry = record_activity(db.session, user_id, kind, description, ref_type, ref_id)
    db.session.commit()
    return entry.id
