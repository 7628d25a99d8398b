"""The ChargeOps app as a Dagster resource: assets read the same database through the same services."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Optional

from dagster import ConfigurableResource


class FlaskAppResource(ConfigurableResource):
    """Yields a SQLAlchemy session inside the app context; `database_url` overrides DATABASE_URL."""

    database_url: Optional[str] = None

    @contextmanager
    def session(self) -> Iterator:
        from app import create_app
        from app.extensions import db

        overrides = {"SQLALCHEMY_DATABASE_URI": self.database_url} if self.database_url else None
        flask_app = create_app(overrides)
        with flask_app.app_context():
            try:
                yield db.session
            finally:
                db.session.remove()
