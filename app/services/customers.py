"""Customers: lookup by phone/email. (The Contacts module owns and extends this service.)"""
from __future__ import annotations

from typing import Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models.customers import Customer
from app.services.phones import try_e164


def find_by_phone(session: Session, raw_phone: str) -> Optional[Customer]:
    """The customer with this number in any written form ('077 123 4567', '+94771234567', '0094...')."""
    e164 = try_e164(raw_phone)
    if e164 is None:
        return None
    return session.scalar(select(Customer).where(Customer.phone == e164))


def find_by_email(session: Session, email: str) -> list[Customer]:
    return list(session.scalars(select(Customer).where(func.lower(Customer.email) == email.strip().lower())))


def balance_of(session: Session, customer_id: int):
    """The customer's wallet balance in the default currency (Decimal), or None when they have no wallet.

    The Contacts module implements wallets; until then nobody has one.
    """
    return None
