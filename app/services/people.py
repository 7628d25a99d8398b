"""People: activity tracking, member lookups, and department scope and capabilities.

Department scope (seed: "Access scoped to department capabilities"): Admins, Managers and
Dispatchers oversee every department. Anyone else sees and works a call, ticket, customer request
or WhatsApp conversation when their department holds the capability naming that kind of work
(`calls`, `tickets`, `requests`, `whatsapp`: the whole queue), when the record belongs to their
department (routed there; support.record_department says which department an unrouted record's
category goes to), or when it is assigned to them or was opened by them. Capabilities that name
an action (`charger_commands`, `firmware`, `ssh_reboot`, `maintenance`, ...) are checked with
`require_capability`; the codes are `app.models.people.CAPABILITIES`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Optional, Union

from flask_appbuilder.security.sqla.models import Role, User

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from app.models.people import CAPABILITIES, Capability, Department, TeamMember
from app.security import ADMIN, DISPATCHER, MANAGER, PERMISSION_MATRIX, WRITE
from app.services import Forbidden, InvalidInput


# Their work spans every department: they see all of it and hold every capability.
OVERSEEING_ROLES = (ADMIN, MANAGER, DISPATCHER)


def active_users_with_roles(session: Session, roles: Iterable[str]) -> list[User]:
    """Active people holding any of these roles (who gets told about something)."""
    return list(session.scalars(
        select(User).join(User.roles).where(Role.name.in_(list(roles)), User.active.is_(True)).distinct().order_by(User.id)
    ))


def member_for_user(session: Session, user_id: int) -> Optional[TeamMember]:
    return session.scalar(select(TeamMember).where(TeamMember.user_id == user_id))


# --- department scope and capabilities -------------------------------------------------------


@dataclass(frozen=True)
class DepartmentScope:
    """What one person's department lets them see and do (see the module docstring)."""

    user_id: Optional[int]
    everything: bool = False
    department_id: Optional[int] = None
    department: Optional[str] = None
    capabilities: frozenset[str] = field(default_factory=frozenset)

    def holds(self, code: str) -> bool:
        return self.everything or code in self.capabilities


def _user(session: Session, user: Union[User, int, None]) -> Optional[User]:
    if user is None or isinstance(user, User):
        return user
    return session.get(User, int(user))


def department_scope(session: Session, user: Union[User, int, None]) -> DepartmentScope:
    """The scope of a person (a User or a user id). None is the system itself (tasks, webhooks): everything."""
    person = _user(session, user)
    if person is None:
        return DepartmentScope(user_id=None, everything=user is None)
    if any(role.name in OVERSEEING_ROLES for role in person.roles):
        return DepartmentScope(user_id=person.id, everything=True)
    member = session.scalar(
        select(TeamMember).where(TeamMember.user_id == person.id, TeamMember.active.is_(True))
        .options(joinedload(TeamMember.department).selectinload(Department.capabilities))
    )
    department = member.department if member else None
    if department is None:
        return DepartmentScope(user_id=person.id)
    return DepartmentScope(
        user_id=person.id, department_id=department.id, department=department.name,
        capabilities=frozenset(c.code for c in department.capabilities),
    )


def has_capability(session: Session, user: Union[User, int, None], code: str) -> bool:
    """Whether the person's department holds this capability (overseeing roles hold them all)."""
    if code not in CAPABILITIES:
        raise InvalidInput(f"unknown capability {code}")
    return department_scope(session, user).holds(code)


def require_capability(session: Session, user: Union[User, int, None], code: str) -> None:
    """Refuse (Forbidden, 403) unless the person's department holds the capability `code`."""
    if not has_capability(session, user, code):
        raise Forbidden(f"your department does not have the capability: {CAPABILITIES[code]}")


def roles_that_work(resource: str) -> tuple[str, ...]:
    """The roles that may write `resource` (PERMISSION_MATRIX): who can be handed such an item."""
    return (ADMIN,) + tuple(role for role, access in PERMISSION_MATRIX.get(resource, {}).items() if access == WRITE)


def user_may_work(session: Session, user_id: int, resource: str) -> bool:
    return session.scalar(
        select(User.id).join(User.roles).where(User.id == user_id, Role.name.in_(roles_that_work(resource))).limit(1)
    ) is not None


def sync_capabilities(session: Session) -> dict[str, Capability]:
    """Create the capability rows of CAPABILITIES that are missing (idempotent); returns them by code."""
    existing = {c.code: c for c in session.scalars(select(Capability))}
    for code, name in CAPABILITIES.items():
        if code not in existing:
            existing[code] = Capability(code=code, name=name)
            session.add(existing[code])
    session.flush()
    return existing

