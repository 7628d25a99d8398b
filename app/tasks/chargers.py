"""Chargers Celery tasks: load by id, call a service, decide retries.

acks_late (redelivered if a worker dies mid-task) is on where running twice changes nothing: alerts are
deduplicated per charger and kind, time-outs and publishes check the command's status first."""
from __future__ import annotations

from celery import shared_task

from app.extensions import db
from app.services import chargers, chargers_alerts, chargers_commands, chargers_health
from app.services.outbox import enqueue_after_commit
from app.services.field_issues import record_charger_event
from app.services.field_alerts import offline_alerts


def _alert_and_track(charger_id: int, kind: str, detail: str) -> int:
    """Alert the people who watch the network, and put the event on the charger's issue (the issue tracker)."""
    sent = chargers_alerts.alert_charger_event(db.session, charger_id, kind, detail)
    record_charger_event(db.session, charger_id, kind, detail)
    db.session.commit()
    return sent


@shared_task(name="chargers.charger_faulted", acks_late=True)
def charger_faulted(charger_id: int, detail: str = "") -> int:
    """Handed over by the ingest when a charger turns Faulted; in-app alert to CPO/Manager (deduplicated)."""
    return _alert_and_track(charger_id, "charger_faulted", detail)


@shared_task(name="chargers.charger_offline", acks_late=True)
def charger_offline(charger_id: int, detail: str = "") -> int:
    return _alert_and_track(charger_id, "charger_offline", detail)


@shared_task(name="chargers.fault_cleared", acks_late=True)
def fault_cleared(charger_id: int, detail: str = "") -> int:
    return _alert_and_track(charger_id, "fault_cleared", detail)


@shared_task(name="chargers.sweep", acks_late=True)
def sweep() -> dict:
    """Beat, every ~15 s: the fleet's offline sweep (one UPDATE), the stored bucket ranks checked, and the
    command time-outs backstop."""
    crossed = chargers_health.sweep_offline(db.session)
    chargers.restamp_conditions(db.session)  # a changed threshold or a writer that skipped it: right within a sweep
    singles = offline_alerts(db.session, crossed)  # many at once: one mass alert instead
    timed_out = chargers_commands.sweep_command_timeouts(db.session)
    for charger_id in {chargers_commands.get_command(db.session, c).charger_id for c in timed_out}:
        chargers_commands.release_next_command(db.session, charger_id)
    for charger_id in singles:
        enqueue_after_commit(db.session, "chargers.charger_offline", charger_id, "no message within the offline threshold")
    db.session.commit()
    return {"offline": len(crossed), "timed_out": len(timed_out)}


@shared_task(name="chargers.snapshot_buckets")
def snapshot_buckets() -> int:
    """Beat, every NETWORK_SNAPSHOT_MINUTES: the bucket counts kept for the buckets-over-time chart."""
    added = chargers.snapshot_buckets(db.session)
    db.session.commit()
    return added


@shared_task(name="chargers.command_timeout", acks_late=True)
def command_timeout(command_id: str) -> bool:
    """Queued through the outbox, due at the command's deadline, when its turn comes."""
    if not chargers_commands.time_out_command(db.session, command_id):
        db.session.rollback()
        return False
    command = chargers_commands.get_command(db.session, command_id)
    chargers_commands.release_next_command(db.session, command.charger_id)
    db.session.commit()
    return True


@shared_task(name="chargers.publish_command", acks_late=True)
def publish_command(command_id: str) -> bool:
    """Another try at a command the broker was away for; the service never publishes it past its deadline."""
    return chargers_commands.publish_command(command_id)


@shared_task(name="chargers.prune_messages", acks_late=True)
def prune_messages() -> int:
    removed = chargers_health.prune_messages(db.session)
    db.session.commit()
    return removed
