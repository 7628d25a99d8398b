"""The ChargeOps app as a Dagster resource: assets read the same database through the same code."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Optional

from dagster import ConfigurableResource
from flask import Flask, current_app, has_app_context

from app import create_app
from app.extensions import db

_apps: dict[Optional[str], Flask] = {}


def _app_for(database_url: Optional[str]) -> Flask:
    """One app per process and database: create_app() wires module-level extensions, so never twice."""
    if database_url not in _apps:
        _apps[database_url] = create_app({"SQLALCHEMY_DATABASE_URI": database_url} if database_url else None)
    return _apps[database_url]


class ChargeOpsApp(ConfigurableResource):
    """Yields a SQLAlchemy session inside the app context; `database_url` overrides DATABASE_URL.

    Inside a running app (the worker, the web process, a test) it uses that app as it is.
    """

    database_url: Optional[str] = None

    @contextmanager
    def session(self) -> Iterator:
        if has_app_context():
            yield db.session
            return
        with _app_for(self.database_url).app_context():
            try:
                yield db.session
            finally:
                db.session.remove()

    def operator(self) -> str:
        return current_app.config.get("OPERATOR_NAME") or "ChargeOps"


# the name the assets were written against before resources had a module each
FlaskAppResource = ChargeOpsApp
