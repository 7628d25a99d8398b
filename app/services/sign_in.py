"""Sign-in versions: logging out, changing a password or revoking a person ends every session cookie
and JWT issued before (each carries the version it was issued under). One primary-key read per
request, in the database: nothing waits on Redis."""
from __future__ import annotations

from flask_appbuilder.security.sqla.models import User
from sqlalchemy import event, insert, inspect, select, update
from sqlalchemy.orm import Session

from app.models.people import SignInVersion

SESSION_KEY = "_sign_in"  # the version in the signed session cookie
CLAIM = "sv"  # the version in a JWT


def current_version(session: Session, user_id) -> int:
    return session.scalar(select(SignInVersion.version).where(SignInVersion.user_id == int(user_id))) or 0


def revoke_sign_ins(session: Session, user_id) -> int:
    """Everything issued to this person so far stops working; returns the new version. Caller commits.
    Plain statements, so it also runs inside a flush (a password change, below)."""
    user_id = int(user_id)
    bumped = session.execute(
        update(SignInVersion).where(SignInVersion.user_id == user_id).values(version=SignInVersion.version + 1)
    )
    if not bumped.rowcount:
        session.execute(insert(SignInVersion).values(user_id=user_id, version=1))
    return current_version(session, user_id)


@event.listens_for(Session, "after_flush")
def _a_new_password_revokes_older_sign_ins(session, _context) -> None:
    """Whoever changes a password (the person, an Admin, FAB's user API), older sign-ins end with it."""
    for obj in list(session.dirty):
        if isinstance(obj, User) and inspect(obj).attrs.password.history.has_changes():
            revoke_sign_ins(session, obj.id)
