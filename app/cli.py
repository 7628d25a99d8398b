"""flask commands: sync-roles, seed-demo (later modules add ingest, simulate, ...)."""
from __future__ import annotations

import importlib

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from app.extensions import appbuilder, db
from app.services.people import sync_capabilities
import signal
import threading
from app.services.outbox import OutboxRelay

# the fleet first: customers' sessions and the desk's calls name its chargers
DEMO_DOMAINS = ["people", "chargers", "customers", "support", "installations", "messaging", "field"]


@click.command("sync-roles")
@with_appcontext
def sync_roles_command():
    """Create every role declared in the permission matrix and every department capability (idempotent)."""
    appbuilder.sm.sync_roles()
    sync_capabilities(db.session)
    db.session.commit()
    click.echo(f"roles: {', '.join(sorted(appbuilder.sm.builtin_roles))}")


@click.command("seed-demo")
@click.option("--only", multiple=True, help="Seed only these domains (default: all).")
@with_appcontext
def seed_demo_command(only):
    """Idempotent, realistic demo data: one user per role, departments, teams, and each module's data."""
    appbuilder.sm.sync_roles()
    for domain in only or DEMO_DOMAINS:
        module = importlib.import_module(f"app.demo.{domain}")
        module.seed(db.session)
        db.session.commit()
        click.echo(f"seeded {domain}")
    click.echo(f"demo password for every user: {current_app.config['DEMO_PASSWORD']}")


@click.command("outbox-relay")
@with_appcontext
def outbox_relay_command():
    """Hand outbox rows (every queued side effect) to Celery until stopped (the Procfile's relay)."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    relay = OutboxRelay(current_app._get_current_object()).start()
    click.echo(f"outbox relay: polling every {relay.poll}s")
    while not stop.wait(1.0):
        pass
    relay.stop()


def register_cli(app: Flask) -> None:
    for command in (sync_roles_command, seed_demo_command, outbox_relay_command):
        app.cli.add_command(command)
    for domain in ("chargers", "customers", "installations", "messaging", "support", "reports"):
        try:
            module = importlib.import_module(f"app.commands.{domain}")
        except ModuleNotFoundError as exc:
            if exc.name != f"app.commands.{domain}":
                raise
            continue
        for command in module.COMMANDS:
            app.cli.add_command(command)
