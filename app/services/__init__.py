"""Business rules, one module per domain: plain functions taking a SQLAlchemy session."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

from sqlalchemy import update
from sqlalchemy.orm import Session


class ServiceError(Exception):
    """A rule refused the request; `status` is the HTTP status an API maps it to."""

    status = 400

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class InvalidInput(ServiceError):
    status = 400


class NotFound(ServiceError):
    status = 404


class Forbidden(ServiceError):
    status = 403


class Conflict(ServiceError):
    status = 409


def get_or_404(session: Session, model, obj_id: Any, what: str, *, lock: bool = False):
    """The one loader by id: InvalidInput (400) when the id is not a whole number, NotFound (404) when
    there is no such row. lock=True first writes to the row (status = status), which serialises
    concurrent changes on both databases: a row lock on PostgreSQL, the write lock taken up front on
    SQLite (a read-then-write transaction there fails with "database is locked" instead of waiting)."""
    try:
        obj_id = int(obj_id)
    except (TypeError, ValueError):
        raise InvalidInput(f"{what} id must be a whole number, not {obj_id!r}") from None
    if lock:
        touched = session.execute(
            update(model).where(model.id == obj_id).values(status=model.status).execution_options(synchronize_session=False)
        )
        if touched.rowcount == 0:
            raise NotFound(f"{what} {obj_id} not found")
    obj = session.get(model, obj_id, populate_existing=lock)
    if obj is None:
        raise NotFound(f"{what} {obj_id} not found")
    return obj


def iso_utc(value: Optional[datetime]) -> Optional[str]:
    """The one date-time format of every JSON body: ISO-8601 UTC to the second, `2026-11-21T08:15:00Z`
    (the contracts' format). Stored times are naive UTC; an aware one is converted first."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")
