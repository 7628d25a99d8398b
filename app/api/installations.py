"""Installations over REST."""
from __future__ import annotations


def register(appbuilder) -> None:
    """Add this domain's REST APIs."""
