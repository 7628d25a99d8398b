"""Shared column types and helpers for every domain's models."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import Numeric
from sqlalchemy.orm import Mapped, mapped_column

# Money is never a float: two decimal places, Decimal in Python.
Money = Numeric(14, 2, asdecimal=True)
ZERO = Decimal("0.00")


def utcnow() -> datetime:
    """Naive UTC, the one time representation stored in every table (SQLite has no tz)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def created_at_column() -> Mapped[datetime]:
    return mapped_column(default=utcnow, nullable=False, index=True)
