"""flask commands for messaging: alert a group by hand, run the outbox sweep."""
from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.extensions import db
from app.services.messaging_alerts import alert_group
from app.services.messaging_outbound import sweep_outbox


@click.command("alert-group")
@click.argument("group_code")
@click.option("--kind", default="manual", show_default=True)
@click.option("--title", required=True)
@click.option("--body", default=None)
@click.option("--dedupe-key", default=None)
@with_appcontext
def alert_group_command(group_code, kind, title, body, dedupe_key):
    """Alert every member of a notification group (in-app and WhatsApp)."""
    alert = alert_group(db.session, group_code, kind=kind, title=title, body=body, dedupe_key=dedupe_key)
    db.session.commit()
    click.echo(f"alert #{alert.id} to {len(alert.recipients)} people" if alert else "deduplicated: nothing sent")


@click.command("messaging-sweep")
@with_appcontext
def messaging_sweep_command():
    """Re-queue unsent messages and media downloads; flag sends stuck mid-call."""
    click.echo(sweep_outbox(db.session))


COMMANDS = [alert_group_command, messaging_sweep_command]
