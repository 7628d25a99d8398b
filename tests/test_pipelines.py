"""The Dagster definitions load (every asset module, job and schedule)."""
from __future__ import annotations


def test_definitions_load():
    from pipelines import defs

    assert defs.resolve_asset_graph() is not None
