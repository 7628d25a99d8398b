"""People: activity tracking and member lookups."""
from __future__ import annotations

from typing import Iterable, Optional

from flask_appbuilder.security.sqla.models import Role, User

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.people import ActivityLog, TeamMember


def record_activity(
    session: Session,
    user_id: Optional[int],
    kind: str,
    description: str,
    ref_type: Optional[str] = None,
    ref_id: Optional[int] = None,
) -> ActivityLog:
    """Append to the person's activity log and touch their last activity (caller commits)."""
    entry = ActivityLog(
        user_id=user_id, kind=kind, description=description, ref_type=ref_type, ref_id=ref_id, at=utcnow()
    )
    session.add(entry)
    if user_id is not None:
        session.execute(update(TeamMember).where(TeamMember.user_id == user_id).values(last_activity_at=entry.at))
    return entry


def active_users_with_roles(session: Session, roles: Iterable[str]) -> list[User]:
    """Active people holding any of these roles (who gets told about something)."""
    return list(session.scalars(
        select(User).join(User.roles).where(Role.name.in_(list(roles)), User.active.is_(True)).distinct().order_by(User.id)
    ))


def member_for_user(session: Session, user_id: int) -> Optional[TeamMember]:
    return session.scalar(select(TeamMember).where(TeamMember.user_id == user_id))
