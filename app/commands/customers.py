"""flask check-wallets, flask import-settlement."""
from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy import func, select

from app.extensions import db
from app.models.customers import Wallet
from app.services import ServiceError
from app.services.customers_payments import import_settlement_csv
from app.services.customers_wallet import wallets_out_of_balance


@click.command("check-wallets")
@with_appcontext
def check_wallets_command():
    """Verify that every wallet's ledger sums to its balance; exit 1 and list the offenders otherwise."""
    checked = db.session.scalar(select(func.count()).select_from(Wallet))
    bad = wallets_out_of_balance(db.session)
    if not bad:
        click.echo(f"{checked} wallets checked, all match their ledger")
        return
    for row in bad:
        click.echo(
            f"wallet #{row['wallet_id']} customer #{row['customer_id']} {row['currency']}: "
            f"balance {row['balance']:.2f} != ledger {row['ledger_sum']:.2f}"
        )
    click.echo(f"{len(bad)} of {checked} wallets do not match their ledger")
    sys.exit(1)


@click.command("import-settlement")
@click.argument("provider")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def import_settlement_command(provider, csv_file: Path):
    """Import a provider's settlement CSV (CyberSource, Amex, Dialog); safe to run twice."""
    try:
        report = import_settlement_csv(db.session, provider, csv_file.read_bytes(), filename=csv_file.name)
    except ServiceError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message)
    db.session.commit()
    click.echo(
        f"{report.provider} {csv_file.name}: {report.total} rows, {report.created} new, {report.updated} updated, "
        f"{report.unchanged} unchanged, {len(report.rejected)} rejected"
    )
    for line, why in report.rejected:
        click.echo(f"  rejected row {line}: {why}")


COMMANDS = [check_wallets_command, import_settlement_command]
