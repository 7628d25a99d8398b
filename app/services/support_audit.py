"""The support audit trail, written in one place: a before_flush hook on SQLAlchemy's history.

Every change of an audited column of a Ticket, Call or CustomerRequest, from a service, a FAB
form or anywhere else, becomes a SupportAudit row (who, when, field, old, new). The actor is the
`_actor_id` a service set on the object, else the signed-in user of the current request.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from flask import g, has_request_context
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.chargers import Charger
from app.models.customers import Customer
from app.models.people import Department
from app.models.support import Call, CustomerRequest, SupportAudit, Ticket
from sqlalchemy import select

AUDITED = {
    Ticket: ("ticket", (
        "title", "description", "category", "priority", "status", "customer_id", "charger_id",
        "assignee_id", "department_id", "first_response_due", "resolution_due", "reopen_count",
    )),
    Call: ("call", (
        "category", "caller_phone", "customer_id", "charger_ref", "summary", "outcome", "resolution",
        "status", "assignee_id", "department_id",
    )),
    CustomerRequest: ("request", (
        "category", "urgency", "department", "summary", "confidence", "classifier", "priority", "status",
        "assigned_department_id", "assignee_id", "customer_id", "assignment_overridden",
    )),
}
_REFERENCES = {"assignee_id": User, "department_id": Department, "assigned_department_id": Department, "customer_id": Customer,
               "charger_id": Charger}


def audit_model(model, entity: str, fields: tuple[str, ...], references: Optional[dict] = None) -> None:
    """Another domain's record audited the same way (issues, maintenance tasks, force charges)."""
    AUDITED[model] = (entity, fields)
    _REFERENCES.update(references or {})
    for field in fields:
        event.listen(getattr(model, field), "set", lambda target, value, old, initiator: value,
                     active_history=True, retval=True)


def _load_old_values() -> None:
    """Make SQLAlchemy load an expired attribute's old value before a set, so history has it."""
    for model, (_entity, fields) in AUDITED.items():
        for field in fields:
            event.listen(getattr(model, field), "set", lambda target, value, old, initiator: value,
                         active_history=True, retval=True)


_load_old_values()


def _actor_of(obj) -> Optional[int]:
    actor = getattr(obj, "_actor_id", None)
    if actor is not None:
        return actor
    if has_request_context():
        user = getattr(g, "user", None)
        if user is not None and getattr(user, "is_authenticated", False):
            return user.id
    return None


def _display(session: Session, field: str, value: Any) -> Optional[str]:
    if value is None:
        return None
    model = _REFERENCES.get(field)
    if model is not None:
        with session.no_autoflush:
            target = session.get(model, value)
        if target is None:
            return f"#{value}"
        if model is User:
            return f"{target.first_name} {target.last_name} ({target.username})"
        return str(getattr(target, "name", None) or target)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


@event.listens_for(Session, "before_flush")
def _audit_changes(session: Session, _context, _instances) -> None:
    rows = []
    now = utcnow()
    for obj in list(session.new) + list(session.dirty):
        spec = AUDITED.get(type(obj))
        if spec is None:
            continue
        entity, fields = spec
        state = inspect(obj)
        if obj in session.new:
            # the id is not known before the flush: record creation after it (see _audit_created)
            session.info.setdefault("support_created", []).append(obj)
            continue
        for field in fields:
            history = state.attrs[field].history
            if not history.has_changes():
                continue
            old = history.deleted[0] if history.deleted else None
            new = history.added[0] if history.added else None
            if old == new:
                continue
            rows.append(SupportAudit(
                entity=entity, entity_id=obj.id, field=field, old_value=_display(session, field, old),
                new_value=_display(session, field, new), user_id=_actor_of(obj), at=now,
            ))
    session.add_all(rows)


@event.listens_for(Session, "after_flush_postexec")
def _audit_created(session: Session, _context) -> None:
    created = session.info.pop("support_created", [])
    for obj in created:
        entity, _fields = AUDITED[type(obj)]
        session.add(SupportAudit(
            entity=entity, entity_id=obj.id, field="created", old_value=None,
            new_value=getattr(obj, "status", None), user_id=_actor_of(obj), at=utcnow(),
        ))
    # these rows are flushed by the next flush (commit flushes until the session is clean)


def history_of(session: Session, entity: str, entity_id: int) -> list[SupportAudit]:
    return list(session.scalars(
        select(SupportAudit).where(SupportAudit.entity == entity, SupportAudit.entity_id == entity_id)
        .order_by(SupportAudit.at, SupportAudit.id)
    ))
