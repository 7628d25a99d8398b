"""flask commands of the support desk: the beat jobs by hand, and re-classification."""
from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.extensions import db
from app.services.support_alerts import check_sla
from app.services.support_alerts import send_reminders
from datetime import timedelta
from app.services.support_requests import classify_request, unclassified_request_ids


@click.command("support-check-sla")
@with_appcontext
def check_sla_command():
    """Send due SLA warnings and breach notices now (what beat runs every minute)."""
    click.echo(f"{check_sla(db.session)} SLA notices sent")


@click.command("support-remind")
@with_appcontext
def remind_command():
    """Remind assignees of untouched tickets and requests now."""
    click.echo(f"{send_reminders(db.session)} reminders sent")


@click.command("support-classify")
@click.argument("request_ids", nargs=-1, type=int)
@click.option("--force", is_flag=True, help="Classify again even if already classified.")
@with_appcontext
def classify_command(request_ids, force):
    """Classify and route requests synchronously (default: every unclassified one)."""
    ids = list(request_ids) or unclassified_request_ids(db.session, timedelta(0))
    for request_id in ids:
        request = classify_request(db.session, request_id, force=force)
        db.session.commit()
        if request is not None:
            click.echo(f"#{request.id}: {request.category} / {request.urgency} by {request.classifier} -> "
                       f"{request.assigned_department.name if request.assigned_department else '-'}")


COMMANDS = [check_sla_command, remind_command, classify_command]
