"""flask installations-report: build and e-mail the OEM reports for a period (also done by Dagster)."""
from __future__ import annotations

from datetime import date, timedelta

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from app.extensions import db
from app.models.base import utcnow
from app.models.installations import Oem
from reporting.installations import oem_report
from app.services.installations_notices import remind_overdue


@click.command("installations-report")
@click.option("--period", type=click.Choice(["weekly", "monthly"]), default="weekly")
@click.option("--start", help="First day of the period (YYYY-MM-DD); default: the last full week / month.")
@click.option("--no-email", is_flag=True, help="Build the workbooks without e-mailing them.")
@with_appcontext
def installations_report_command(period, start, no_email):
    """Build each active OEM's progress report and e-mail it to the OEM contact."""
    today = utcnow().date()
    if start:
        first = date.fromisoformat(start)
    elif period == "weekly":
        first = today - timedelta(days=today.weekday() + 7)
    else:
        first = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    for oem in db.session.scalars(select(Oem).where(Oem.active.is_(True)).order_by(Oem.name)):
        record, jobs = oem_report(db.session, oem, period, first, email=not no_email)
        db.session.commit()
        mail = {"sent": f", sent to {record.emailed_to}", "failed": f", e-mail FAILED: {record.email_error}"}.get(record.email_status, "")
        click.echo(f"{oem.name}: {len(jobs)} jobs -> {record.stored_name}{mail}")


@click.command("installations-remind-overdue")
@with_appcontext
def remind_overdue_command():
    """Notify Central Ops of overdue installation jobs now."""
    count = remind_overdue(db.session)
    db.session.commit()
    click.echo(f"{count} overdue jobs")


COMMANDS = [installations_report_command, remind_overdue_command]
