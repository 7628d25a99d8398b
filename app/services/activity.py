"""A person's activity log (sign-ins, calls, assignments...), which also tells when they were last active.

Services flush; the caller commits.
"""
from __future__ import annotations

from typing import Optional

from sqlalchemy import update
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

