"""Demo people: one user per role, departments with capabilities, team members, field teams."""
from __future__ import annotations

from decimal import Decimal

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.extensions import appbuilder
from app.models.people import Department, FieldTeam, PaymentSchedule, TeamMember
from app.services.people import sync_capabilities
from app.security import (
    ADMIN, CENTRAL_OPS, CPO, DISPATCHER, FIELD_TEAM, FINANCE, INSTALLER, MANAGER, OEM,
    OEM_REPORTING, OPS_AGENT, PROCUREMENT,
)

# username -> (role, first, last, department, phone)
DEMO_USERS = {
    "admin": (ADMIN, "Amara", "Perera", None, "+94771000001"),
    "manager": (MANAGER, "Nimal", "Fernando", "Hotline", "+94771000002"),
    "dispatcher": (DISPATCHER, "Dilani", "Silva", "Service", "+94771000003"),
    "agent": (OPS_AGENT, "Kasun", "Jayawardena", "Hotline", "+94771000004"),
    "installer": (INSTALLER, "Ruwan", "Bandara", "Maintenance", "+94771000005"),
    "cpo": (CPO, "Shanika", "Wickramasinghe", "Technical", "+94771000006"),
    "centralops": (CENTRAL_OPS, "Tharindu", "Rajapaksa", "Service", "+94771000007"),
    "fieldteam": (FIELD_TEAM, "Chaminda", "Herath", "Maintenance", "+94771000008"),
    "procurement": (PROCUREMENT, "Ishara", "Gunasekara", None, "+94771000009"),
    "finance": (FINANCE, "Malini", "Dissanayake", None, "+94771000010"),
    "oemreporting": (OEM_REPORTING, "Sachini", "Karunaratne", None, "+94771000011"),
    "oem_tata": (OEM, "Rahul", "Mehta", None, "+94771000012"),
    "oem_mg": (OEM, "Li", "Wei", None, "+94771000013"),
}


DEPARTMENTS = {
    "Hotline": ("Answers the hotline and WhatsApp; first line for every customer.", ["calls", "requests", "whatsapp", "payments"]),
    "Service": ("Owns tickets through to resolution; dispatches field work.", ["tickets", "requests", "installations"]),
    "Maintenance": ("Field maintenance and repairs of chargers.", ["charger_faults", "maintenance", "installations", "charger_commands"]),
    "Technical": ("Network monitoring, firmware, diagnostics and remote control.", ["charger_faults", "firmware", "charger_commands", "ssh_reboot"]),
}

FIELD_TEAMS = [
    ("Team Colombo North", "Colombo, Gampaha", True, True, PaymentSchedule.PER_JOB, "4500.00", "12000.00"),
    ("Team Colombo South", "Colombo, Kalutara", True, True, PaymentSchedule.FORTNIGHTLY, "4500.00", "12000.00"),
    ("Team Kandy", "Kandy, Matale, Nuwara Eliya", True, True, PaymentSchedule.MONTHLY, "5000.00", "13500.00"),
    ("Team Galle", "Galle, Matara", True, False, PaymentSchedule.PER_JOB, "5000.00", "0.00"),
    ("Team Kurunegala", "Kurunegala, Puttalam", False, True, PaymentSchedule.FORTNIGHTLY, "0.00", "14000.00"),
]


def seed(session: Session) -> None:
    sm = appbuilder.sm
    password = current_app.config["DEMO_PASSWORD"]

    capabilities = sync_capabilities(session)
    departments = {}
    for name, (description, caps) in DEPARTMENTS.items():
        dept = session.scalar(select(Department).where(Department.name == name)) or Department(name=name)
        dept.description = description
        dept.capabilities = [capabilities[c] for c in caps]
        session.add(dept)
        departments[name] = dept
    session.flush()

    for username, (role, first, last, dept, phone) in DEMO_USERS.items():
        user = sm.find_user(username=username)
        if user is None:
            user = sm.add_user(username, first, last, f"{username}@chargeops.local", sm.find_role(role), password)
        member = session.scalar(select(TeamMember).where(TeamMember.user_id == user.id))
        if member is None:
            session.add(
                TeamMember(user_id=user.id, department=departments.get(dept) if dept else None, phone=phone, whatsapp=phone)
            )

    field_user = sm.find_user(username="fieldteam")
    for name, areas, survey, install, schedule, survey_rate, install_rate in FIELD_TEAMS:
        if session.scalar(select(FieldTeam).where(FieldTeam.name == name)) is None:
            team = FieldTeam(
                name=name, service_areas=areas, can_survey=survey, can_install=install,
                payment_schedule=schedule, survey_rate=Decimal(survey_rate), installation_rate=Decimal(install_rate),
                lead_phone="+9477" + str(2000000 + len(name) * 7919 % 999999).zfill(7),
            )
            if name == "Team Colombo North" and field_user is not None:
                team.members = [field_user]
            session.add(team)
