"""The demo data: thousands of Sri Lankan customers with valid numbers and balanced wallets, idempotent."""
from __future__ import annotations

import phonenumbers
from sqlalchemy import func, select

from app.demo import customers as demo
from app.models.customers import Customer, CustomerPhone, Payment, TopUp, WalletEntry
from app.services.customers_wallet import wallets_out_of_balance


def test_demo_customers_are_realistic_balanced_and_seeded_once(session):
    demo.seed(session)  # how long it takes is bench material, not a test's
    session.commit()
    assert session.scalar(select(func.count()).select_from(Customer)) == demo.CUSTOMERS
    numbers = session.scalars(select(CustomerPhone.phone)).all()
    assert all(phonenumbers.is_valid_number(phonenumbers.parse(n)) for n in numbers)
    assert all(n.startswith("+94") for n in numbers)
    assert session.scalar(select(func.count()).select_from(WalletEntry)) > 10 * demo.CUSTOMERS // 2
    providers = set(session.scalars(select(Payment.provider).distinct()))
    assert providers == {"CyberSource", "Amex", "Dialog", "Manual"}
    assert session.scalar(select(func.count()).select_from(TopUp).where(TopUp.status == "Pending approval")) == 3
    assert wallets_out_of_balance(session) == []

    before = session.scalar(select(func.count()).select_from(WalletEntry))
    demo.seed(session)
    session.commit()
    assert session.scalar(select(func.count()).select_from(Customer)) == demo.CUSTOMERS
    assert session.scalar(select(func.count()).select_from(WalletEntry)) == before
