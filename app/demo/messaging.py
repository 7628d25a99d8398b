"""Messaging demo data for `flask seed-demo` (idempotent)."""
from __future__ import annotations

from sqlalchemy.orm import Session


def seed(session: Session) -> None:
    """Nothing yet."""
