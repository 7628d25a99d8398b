"""Customers Celery tasks: load by id, call a service, decide retries."""
from __future__ import annotations

from celery import shared_task

from app.extensions import db
from app.services.customers_wallet import report_wallets_out_of_balance


@shared_task(name="customers.check_wallets", ignore_result=False)
def check_wallets_task() -> int:
    """Nightly: every wallet's ledger must sum to its balance; tell Finance and Managers when one does not."""
    mismatched = report_wallets_out_of_balance(db.session)
    db.session.commit()
    return mismatched
