"""Chargers screens."""
from __future__ import annotations


def register(appbuilder) -> None:
    """Add this domain's views and menu items."""
