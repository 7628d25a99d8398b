"""Customers Celery tasks: load by id, call a service, decide retries."""
from __future__ import annotations

from celery import shared_task
from flask_appbuilder.security.sqla.models import Role, User
from sqlalchemy import select

from app.extensions import db
from app.security import FINANCE, MANAGER
from app.services.customers_wallet import wallets_out_of_balance
from app.services.notifications import notify_user


@shared_task(name="customers.check_wallets", ignore_result=False)
def check_wallets_task() -> int:
    """Nightly: every wallet's ledger must sum to its balance; tell Finance and Managers when one does not."""
    bad = wallets_out_of_balance(db.session)
    if bad:
        body = "\n".join(
            f"wallet #{w['wallet_id']} (customer #{w['customer_id']}): balance {w['balance']:.2f}, ledger {w['ledger_sum']:.2f}"
            for w in bad[:50]
        )
        people = db.session.scalars(
            select(User.id).join(User.roles).where(Role.name.in_([FINANCE, MANAGER]), User.active.is_(True)).distinct()
        ).all()
        for user_id in people:
            notify_user(db.session, user_id, "wallet_mismatch", f"{len(bad)} wallet(s) do not match their ledger",
                        body, "/walletview/list/")
        db.session.commit()
    return len(bad)
