"""Dagster definitions: every asset module in pipelines/assets/, with its jobs and schedules.

`dagster dev -m pipelines` (or `dagster-daemon run -m pipelines`) loads `defs`. Each asset
module may declare module-level lists `JOBS` and `SCHEDULES`; asset bodies call `reporting/`.
"""
from __future__ import annotations

import importlib
import pkgutil

from dagster import Definitions, load_assets_from_modules

from pipelines import assets as assets_package
from pipelines.resources import FlaskAppResource


def _asset_modules():
    return [
        importlib.import_module(f"{assets_package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(assets_package.__path__)
    ]


def build_definitions() -> Definitions:
    modules = _asset_modules()
    return Definitions(
        assets=load_assets_from_modules(modules),
        jobs=[job for m in modules for job in getattr(m, "JOBS", [])],
        schedules=[s for m in modules for s in getattr(m, "SCHEDULES", [])],
        resources={"chargeops": FlaskAppResource()},
    )


defs = build_definitions()
