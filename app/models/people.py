"""People: departments and their capabilities, team members, field teams, activity."""
from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Optional

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import Column, Enum, ForeignKey, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Money, ZERO, created_at_column

DEPARTMENTS = ("Hotline", "Service", "Maintenance", "Technical")

# Every capability a department can hold: code -> what it lets the department take on.
# A kind of work (calls, tickets, requests, whatsapp) opens that whole queue to the department;
# an action (charger_commands, firmware, ssh_reboot, maintenance, ...) is allowed only to its holders
# (app.services.people.require_capability). Managers, Dispatchers and Admins hold them all.
CAPABILITIES: dict[str, str] = {
    "calls": "Hotline calls (every call)",
    "tickets": "Service tickets (every ticket)",
    "requests": "Customer requests (every request)",
    "whatsapp": "WhatsApp inbox (every conversation)",
    "payments": "Payment issues",
    "charger_faults": "Charger faults",
    "charger_commands": "Remote charger commands",
    "firmware": "Firmware and diagnostics",
    "ssh_reboot": "SSH reboot of charger servers",
    "maintenance": "Preventive maintenance",
    "installations": "Charger installations",
}

department_capability = Table(
    "department_capability",
    Model.metadata,
    Column("department_id", Integer, ForeignKey("department.id", ondelete="CASCADE"), primary_key=True),
    Column("capability_id", Integer, ForeignKey("capability.id", ondelete="CASCADE"), primary_key=True),
)


class Capability(Model):
    """Something a department is able to take on (calls, tickets, charger faults, ...)."""

    __tablename__ = "capability"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(80))

    def __repr__(self) -> str:
        return self.name


class Department(Model):
    __tablename__ = "department"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    description: Mapped[Optional[str]] = mapped_column(Text)
    capabilities: Mapped[list[Capability]] = relationship(secondary=department_capability)
    members: Mapped[list["TeamMember"]] = relationship(back_populates="department", passive_deletes="all")

    def has_capability(self, code: str) -> bool:
        return any(c.code == code for c in self.capabilities)

    def __repr__(self) -> str:
        return self.name


class TeamMember(Model):
    """The operations profile of a user: department, phones, activity."""

    __tablename__ = "team_member"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id", ondelete="CASCADE"), unique=True)
    user: Mapped[User] = relationship(User)
    department_id: Mapped[Optional[int]] = mapped_column(ForeignKey("department.id"), index=True)
    department: Mapped[Optional[Department]] = relationship(back_populates="members")
    phone: Mapped[Optional[str]] = mapped_column(String(20))  # E.164
    whatsapp: Mapped[Optional[str]] = mapped_column(String(20))  # E.164
    active: Mapped[bool] = mapped_column(default=True)
    last_activity_at: Mapped[Optional[datetime]] = mapped_column()

    def __repr__(self) -> str:
        return f"{self.user.first_name} {self.user.last_name}" if self.user else f"member {self.id}"


class PaymentSchedule(str, enum.Enum):
    PER_JOB = "per job"
    FORTNIGHTLY = "fortnightly"
    MONTHLY = "monthly"


field_team_member = Table(
    "field_team_member",
    Model.metadata,
    Column("field_team_id", Integer, ForeignKey("field_team.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True),
)


class FieldTeam(Model):
    """An on-ground survey and/or installation team and how it is paid."""

    __tablename__ = "field_team"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    lead_phone: Mapped[Optional[str]] = mapped_column(String(20))  # E.164
    service_areas: Mapped[str] = mapped_column(Text, default="")  # comma-separated districts
    can_survey: Mapped[bool] = mapped_column(default=True)
    can_install: Mapped[bool] = mapped_column(default=True)
    payment_schedule: Mapped[PaymentSchedule] = mapped_column(
        Enum(PaymentSchedule, values_callable=lambda e: [m.value for m in e], native_enum=False, length=20),
        default=PaymentSchedule.PER_JOB,
    )
    survey_rate: Mapped[Decimal] = mapped_column(Money, default=ZERO)
    installation_rate: Mapped[Decimal] = mapped_column(Money, default=ZERO)
    active: Mapped[bool] = mapped_column(default=True)
    members: Mapped[list[User]] = relationship(User, secondary=field_team_member)

    def areas(self) -> list[str]:
        return [a.strip() for a in self.service_areas.split(",") if a.strip()]

    def serves(self, area: str) -> bool:
        return area.strip().lower() in {a.lower() for a in self.areas()}

    def __repr__(self) -> str:
        return self.name


class ActivityLog(Model):
    """Append-only: what a person did, written by every module through record_activity()."""

    __tablename__ = "activity_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)
    user: Mapped[Optional[User]] = relationship(User)
    at: Mapped[datetime] = created_at_column()
    kind: Mapped[str] = mapped_column(String(40), index=True)
    description: Mapped[str] = mapped_column(Text)
    ref_type: Mapped[Optional[str]] = mapped_column(String(40))
    ref_id: Mapped[Optional[int]] = mapped_column()


class SignInVersion(Model):
    """A person's sign-in generation: every session cookie and JWT carries the number it was issued
    under; logging out, changing the password or revoking bumps it, and everything older is refused."""

    __tablename__ = "user_sign_in_version"
    user_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(default=0, nullable=False)
