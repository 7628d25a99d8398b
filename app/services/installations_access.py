"""Who sees which installation job: OEM users their OEM's jobs, field teams their own, staff all.
"""
from __future__ import annotations


from typing import Optional

from flask_appbuilder.security.sqla.models import User
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models.installations import (
    InstallationJob, Oem, OemUser,
)
from app.security import ADMIN, CENTRAL_OPS, DISPATCHER, FIELD_TEAM, MANAGER, OEM
from app.services import NotFound
from app.services.installations import role_names
from app.models.people import field_team_member
from app.models.installations import JobVisit




# --- scoping ---------------------------------------------------------------------------
def oem_of_user(session: Session, user: Optional[User]) -> Optional[Oem]:
    if user is None:
        return None
    return session.scalar(select(Oem).join(OemUser, OemUser.oem_id == Oem.id).where(OemUser.user_id == user.id))


def is_oem_user(user: Optional[User]) -> bool:
    roles = role_names(user)
    return OEM in roles and ADMIN not in roles


def visible_oem_id(session: Session, user: Optional[User]) -> Optional[int]:
    """For OEM users: the only OEM whose leads/jobs they may see (-1: none). None: no restriction."""
    if not is_oem_user(user):
        return None
    oem = oem_of_user(session, user)
    return oem.id if oem else -1


def teams_of_user(session: Session, user: Optional[User]) -> list[int]:
    if user is None:
        return []
    return list(session.scalars(select(field_team_member.c.field_team_id).where(field_team_member.c.user_id == user.id)))


def is_field_user(user: Optional[User]) -> bool:
    roles = role_names(user)
    return FIELD_TEAM in roles and not roles & {ADMIN, MANAGER, CENTRAL_OPS, DISPATCHER}


def job_visible_to(session: Session, job: InstallationJob, user: Optional[User]) -> bool:
    oem_id = visible_oem_id(session, user)
    if oem_id is not None:
        return job.oem_id == oem_id
    if is_field_user(user):
        teams = teams_of_user(session, user)
        return bool(teams) and session.scalar(
            select(JobVisit.id).where(JobVisit.job_id == job.id, JobVisit.team_id.in_(teams))
        ) is not None
    return True


def get_job(session: Session, job_id: int, user: Optional[User] = None) -> InstallationJob:
    """The job, or NotFound, also when it belongs to another OEM or another team (never a 403 with data)."""
    job = session.get(InstallationJob, job_id)
    if job is None or (user is not None and not job_visible_to(session, job, user)):
        raise NotFound(f"No installation job {job_id}")
    return job

