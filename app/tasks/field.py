"""Field operations Celery tasks: load by id, call a service, decide retries."""
from __future__ import annotations

import logging

from celery import shared_task

from app.extensions import db
from app.services import chargers_commands
from app.services import field_app, field_force_charge, field_issues, field_maintenance, field_push

log = logging.getLogger(__name__)


def _publish(command_ids) -> None:
    for command_id in command_ids:
        chargers_commands.publish_command(command_id)


@shared_task(name="field.force_charge_progress")
def force_charge_progress(charger_id: int, detail: str = "") -> int:
    """Handed over by the ingest: a charger with a live force charge reported session traffic or a command result."""
    publish = field_force_charge.progress_charger(db.session, charger_id)
    db.session.commit()
    _publish(publish)
    return len(publish)


@shared_task(name="field.check_force_charges")
def check_force_charges() -> int:
    """Beat: timed force charges reach their time, starts that never came release their hold."""
    publish = field_force_charge.check_force_charges(db.session)
    db.session.commit()
    _publish(publish)
    return len(publish)


@shared_task(name="field.issue_event")
def issue_event(charger_id: int, kind: str, detail: str = "") -> bool:
    """A fault, an Offline alert or a cleared fault goes onto the charger's issue."""
    issue = field_issues.record_charger_event(db.session, charger_id, kind, detail)
    db.session.commit()
    return issue is not None


@shared_task(name="field.send_issue_reminders")
def send_issue_reminders() -> dict:
    sent = field_issues.send_issue_reminders(db.session)
    db.session.commit()
    return sent


@shared_task(name="field.remind_overdue_maintenance")
def remind_overdue_maintenance() -> int:
    sent = field_maintenance.remind_overdue(db.session)
    db.session.commit()
    return sent


@shared_task(name="field.send_push")
def send_push() -> int:
    """Beat backstop: pending push rows whose queued delivery never ran (a relay outage) go out now."""
    return sum(deliver_push(None).values())


@shared_task(name="field.deliver_push")
def deliver_push(notification_id: int | None) -> dict:
    """Queued with a notification's push rows: claim them (committed first, so each is posted once), then post."""
    claimed = field_push.claim_deliveries(db.session, notification_id)
    db.session.commit()
    outcome: dict[str, int] = {}
    for delivery_id in claimed:
        status = field_push.send_delivery(db.session, delivery_id)
        db.session.commit()
        outcome[status] = outcome.get(status, 0) + 1
    return outcome


@shared_task(name="field.prune_idempotency_keys")
def prune_idempotency_keys() -> int:
    """Beat: the field app's old idempotency keys go."""
    pruned = field_app.prune_idempotency_keys(db.session)
    db.session.commit()
    return pruned
