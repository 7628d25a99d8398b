"""Installations: survey and installation visits, team assignment, and the emergency paths.

A team's slot is a TeamBooking row; its unique (team, date, slot) key is what refuses double
booking, also when two dispatchers assign at the same moment.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Optional

from flask_appbuilder.security.sqla.models import User
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.installations import InstallationJob, JobVisit, TeamBooking
from app.models.people import FieldTeam
from app.security import CENTRAL_OPS, DISPATCHER
from app.services import Conflict, InvalidInput
from app.services.installations import DOCUMENTS_COMPLETE, INSTALLATION_ASSIGNED, INSTALLATION_SCHEDULED, LOCAL_PROCUREMENT, MATERIALS_ALLOCATED, SURVEY_ASSIGNED, SURVEY_SCHEDULED, move_job
from app.services.installations_notices import notify_customer, notify_role
from app.services.notifications import notify_user

SLOTS = ("morning", "afternoon")
SURVEY, INSTALLATION = "survey", "installation"
KINDS = (SURVEY, INSTALLATION)
SCHEDULED_STAGE = {SURVEY: SURVEY_SCHEDULED, INSTALLATION: INSTALLATION_SCHEDULED}
ASSIGNED_STAGE = {SURVEY: SURVEY_ASSIGNED, INSTALLATION: INSTALLATION_ASSIGNED}
SCHEDULE_FROM = {SURVEY: (DOCUMENTS_COMPLETE,), INSTALLATION: (MATERIALS_ALLOCATED, LOCAL_PROCUREMENT)}
LOAD_WINDOW_DAYS = 7
INSTALLATION_VISIT_STAGES = (INSTALLATION_SCHEDULED, INSTALLATION_ASSIGNED, MATERIALS_ALLOCATED, LOCAL_PROCUREMENT)


def visit_kind(job: InstallationJob) -> str:
    """The visit the job is on now: 'installation' from materials allocation to the assigned installation, else 'survey'."""
    return INSTALLATION if job.stage in INSTALLATION_VISIT_STAGES else SURVEY


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise InvalidInput(f"kind: one of {', '.join(KINDS)}")
    return kind


def parse_slot(visit_date, slot: str) -> tuple[date, str]:
    if isinstance(visit_date, str):
        try:
            visit_date = date.fromisoformat(visit_date.strip())
        except ValueError:
            raise InvalidInput("date: use YYYY-MM-DD")
    if isinstance(visit_date, datetime):
        visit_date = visit_date.date()
    if not isinstance(visit_date, date):
        raise InvalidInput("date: required (YYYY-MM-DD)")
    slot = (slot or "").strip().lower()
    if slot not in SLOTS:
        raise InvalidInput(f"slot: one of {', '.join(SLOTS)}")
    return visit_date, slot


def current_visit(session: Session, job: InstallationJob, kind: str) -> Optional[JobVisit]:
    """The open visit of this kind (scheduled or assigned), if any."""
    return session.scalar(
        select(JobVisit).where(JobVisit.job_id == job.id, JobVisit.kind == kind, JobVisit.status.in_(("scheduled", "assigned")))
        .order_by(JobVisit.id.desc()).limit(1)
    )


def _visit_code(job: InstallationJob, kind: str) -> str:
    return f"{'SRV' if kind == SURVEY else 'INST'}-{job.id:05d}"


def schedule_visit(
    session: Session, job: InstallationJob, kind: str, visit_date, slot: str, actor: User,
    priority: bool = False, emergency: bool = False, comment: str = "",
) -> JobVisit:
    """Confirm a date and slot with the customer (a new one replaces an unassigned one)."""
    kind = _kind(kind)
    visit_date, slot = parse_slot(visit_date, slot)
    if visit_date < utcnow().date():
        raise InvalidInput("date: the visit cannot be in the past")
    if job.stage not in SCHEDULE_FROM[kind] + (SCHEDULED_STAGE[kind],):
        raise Conflict(f"Job {job.code} is '{job.stage}': a {kind} is scheduled from "
                       f"'{' or '.join(SCHEDULE_FROM[kind])}' (or rescheduled while '{SCHEDULED_STAGE[kind]}')")
    previous = current_visit(session, job, kind)
    if previous is not None and previous.status == "assigned":
        raise Conflict(f"The {kind} is already assigned to {previous.team.name}; report the team unavailable to reschedule")
    if previous is not None:
        previous.status = "rescheduled"
        emergency = emergency or previous.emergency
    visit = JobVisit(job_id=job.id, kind=kind, code=_visit_code(job, kind), visit_date=visit_date, slot=slot,
                     status="scheduled", emergency=emergency, created_at=utcnow())
    session.add(visit)
    if priority:
        job.priority = True
    label = f"{kind.title()} on {visit_date.isoformat()} ({slot})" + (" with priority" if priority else "")
    move_job(session, job, SCHEDULED_STAGE[kind], actor, f"{label}. {comment}".strip())
    session.flush()
    if kind == SURVEY and not priority:
        notify_customer(session, job, "survey_confirmed", date=visit_date.isoformat(), slot=slot, code=visit.code)
    return visit


def _team_load(session: Session, team_ids: list[int], around: date) -> dict[int, int]:
    if not team_ids:
        return {}
    rows = session.execute(
        select(TeamBooking.team_id, func.count()).where(
            TeamBooking.team_id.in_(team_ids),
            TeamBooking.booking_date.between(around - timedelta(days=LOAD_WINDOW_DAYS), around + timedelta(days=LOAD_WINDOW_DAYS)),
        ).group_by(TeamBooking.team_id)
    )
    return {team_id: count for team_id, count in rows}


def can_take(team: FieldTeam, kind: str, district: Optional[str]) -> bool:
    """Who may be sent on a visit: an active team with the skill for this kind, serving the job's district."""
    skilled = team.can_survey if kind == SURVEY else team.can_install
    return bool(team.active and skilled and district and team.serves(district))


def skilled_teams(session: Session, kind: str, district: Optional[str]) -> list[FieldTeam]:
    teams = session.scalars(select(FieldTeam).order_by(FieldTeam.name))  # tens of teams: the rule runs in Python
    return [t for t in teams if can_take(t, kind, district)]


def free_teams(session: Session, kind: str, district: Optional[str], visit_date: date, slot: str) -> list[FieldTeam]:
    teams = skilled_teams(session, kind, district)
    booked = set(session.scalars(select(TeamBooking.team_id).where(
        TeamBooking.booking_date == visit_date, TeamBooking.slot == slot, TeamBooking.team_id.in_([t.id for t in teams])
    )))
    return [t for t in teams if t.id not in booked]


def propose_teams(session: Session, job: InstallationJob, kind: str) -> list[dict]:
    """Teams for the open visit ranked: they have the skill, serve the area, are free in the slot; least loaded first."""
    kind = _kind(kind)
    visit = current_visit(session, job, kind)
    if visit is None:
        return []
    teams = free_teams(session, kind, job.district, visit.visit_date, visit.slot)
    load = _team_load(session, [t.id for t in teams], visit.visit_date)
    ranked = sorted(teams, key=lambda t: (load.get(t.id, 0), t.name))
    return [{"team_id": t.id, "name": t.name, "load": load.get(t.id, 0), "areas": t.service_areas} for t in ranked]


def assign_team(
    session: Session, job: InstallationJob, kind: str, team_id: int, actor: User, emergency: bool = False, comment: str = ""
) -> JobVisit:
    """Assign the open visit to a team with the skill, serving the area, free in that slot."""
    kind = _kind(kind)
    if job.stage != SCHEDULED_STAGE[kind]:
        raise Conflict(f"Job {job.code} is '{job.stage}': only a job in '{SCHEDULED_STAGE[kind]}' can be assigned a {kind} team")
    visit = current_visit(session, job, kind)
    if visit is None or visit.status != "scheduled":
        raise Conflict(f"Job {job.code} has no scheduled {kind} to assign")
    team = session.get(FieldTeam, int(team_id)) if str(team_id).isdigit() else None
    if team is None or not team.active:
        raise InvalidInput(f"team_id: no active field team {team_id}")
    if not (team.can_survey if kind == SURVEY else team.can_install):
        raise Conflict(f"{team.name} does not do {kind}s")
    if not job.district or not team.serves(job.district):
        raise Conflict(f"{team.name} does not serve {job.district or 'an unknown district'} (serves {team.service_areas})")
    try:
        with session.begin_nested():
            session.add(TeamBooking(team_id=team.id, booking_date=visit.visit_date, slot=visit.slot, visit_id=visit.id))
            session.flush()
    except IntegrityError:
        raise Conflict(f"{team.name} is already booked on {visit.visit_date.isoformat()} ({visit.slot}): double booking refused")
    visit.team_id, visit.status = team.id, "assigned"
    visit.emergency = visit.emergency or emergency
    if emergency:
        label = f"Emergency assignment: backup team {team.name}"
    else:
        label = f"{kind.title()} {visit.code} assigned to {team.name}"
    job.emergency = False  # the emergency is resolved once a team holds the slot
    session.flush()
    move_job(session, job, ASSIGNED_STAGE[kind], actor, f"{label}. {comment}".strip())
    for member in team.members:
        notify_user(session, member.id, "installation", f"{visit.code}: {kind} on {visit.visit_date} ({visit.slot})",
                    f"{job.lead.customer_name}, {job.address or job.district}. {kind.title()} ID {visit.code}.",
                    link=f"/installations/job/{job.id}", ref_type="installation_job", ref_id=job.id)
    if kind == INSTALLATION:
        notify_customer(session, job, "pre_installation", date=visit.visit_date.isoformat(), slot=visit.slot, team=team.name, code=visit.code)
    return visit


def report_team_unavailable(session: Session, job: InstallationJob, kind: str, actor: User, reason: str) -> list[dict]:
    """The emergency path: Central Ops is told, the customer hears of the delay, backups are proposed."""
    kind = _kind(kind)
    if not (reason or "").strip():
        raise InvalidInput("reason: say why the team cannot make it")
    if job.stage != ASSIGNED_STAGE[kind]:
        raise Conflict(f"Job {job.code} is '{job.stage}': a team can only be reported unavailable for an assigned {kind}")
    visit = current_visit(session, job, kind)
    team = visit.team
    booking = session.scalar(select(TeamBooking).where(TeamBooking.visit_id == visit.id))
    if booking is not None:
        booking.status = "unavailable"  # the slot stays blocked: the team cannot make it
    visit.status = "team unavailable"
    visit.note = reason
    replacement = JobVisit(job_id=job.id, kind=kind, code=visit.code, visit_date=visit.visit_date, slot=visit.slot,
                           status="scheduled", emergency=True, created_at=utcnow())
    session.add(replacement)
    job.emergency = True
    move_job(session, job, SCHEDULED_STAGE[kind], actor, f"EMERGENCY: {team.name} unavailable for {visit.code}: {reason}")
    session.flush()
    title = f"EMERGENCY {job.code}: {team.name} unavailable for the {kind} on {visit.visit_date} ({visit.slot})"
    for role in (CENTRAL_OPS, DISPATCHER):
        notify_role(session, role, "installation_emergency", title, reason, job)
    notify_customer(session, job, "visit_delayed", kind=kind, date=visit.visit_date.isoformat(), slot=visit.slot)
    return propose_teams(session, job, kind)


def _reserved(session: Session, kind: str, district: str, visit_date: date, slot: str, exclude_job: int) -> tuple[int, int]:
    """Unassigned visits of other jobs in that area and slot: (priority ones, normal ones)."""
    rows = session.execute(
        select(InstallationJob.priority, func.count()).join(JobVisit, JobVisit.job_id == InstallationJob.id).where(
            JobVisit.kind == kind, JobVisit.status == "scheduled", JobVisit.visit_date == visit_date, JobVisit.slot == slot,
            InstallationJob.district == district, InstallationJob.id != exclude_job,
        ).group_by(InstallationJob.priority)
    )
    counts = {bool(p): n for p, n in rows}
    return counts.get(True, 0), counts.get(False, 0)


def propose_slots(session: Session, job: InstallationJob, kind: str, start: Optional[date] = None, days: int = 14, limit: int = 6) -> list[dict]:
    """Free (date, slot) options for the job's area. Priority jobs go ahead of normal jobs' tentative visits."""
    kind = _kind(kind)
    start = start or utcnow().date() + timedelta(days=1)
    options = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        for slot in SLOTS:
            teams = free_teams(session, kind, job.district, day, slot)
            if not teams:
                continue
            prio, normal = _reserved(session, kind, job.district or "", day, slot, job.id)
            spare = len(teams) - prio - (0 if job.priority else normal)
            if spare > 0:
                options.append({"date": day.isoformat(), "slot": slot, "free_teams": [t.name for t in teams], "spare": spare})
            if len(options) >= limit:
                return options
    return options


def priority_reschedule(session: Session, job: InstallationJob, kind: str, actor: User, visit_date=None, slot: Optional[str] = None) -> JobVisit:
    """No backup team: move the visit to the next slot a team is free, ahead of normal jobs."""
    kind = _kind(kind)
    if job.stage != SCHEDULED_STAGE[kind]:
        raise Conflict(f"Job {job.code} is '{job.stage}': a priority reschedule is for a '{SCHEDULED_STAGE[kind]}' job with no team")
    current = current_visit(session, job, kind)
    job.priority = True
    if visit_date is None:
        after = max(current.visit_date + timedelta(days=1), utcnow().date() + timedelta(days=1)) if current else None
        options = propose_slots(session, job, kind, start=after, days=21, limit=1)
        if not options:
            raise Conflict(f"No {kind} team serving {job.district} is free in the next three weeks")
        visit_date, slot = options[0]["date"], options[0]["slot"]
    visit = schedule_visit(session, job, kind, visit_date, slot, actor, priority=True, emergency=True,
                           comment="Priority reschedule: no backup team free")
    notify_customer(session, job, "visit_rescheduled", kind=kind, date=visit.visit_date.isoformat(), slot=visit.slot)
    return visit


def release_open_bookings(session: Session, job: InstallationJob) -> None:
    """A cancelled job frees its teams' slots."""
    visits = list(session.scalars(select(JobVisit).where(JobVisit.job_id == job.id, JobVisit.status.in_(("scheduled", "assigned")))))
    ids = [v.id for v in visits]
    if ids:
        session.execute(delete(TeamBooking).where(TeamBooking.visit_id.in_(ids), TeamBooking.status == "booked"))
    for visit in visits:
        visit.status = "cancelled"


def calendar(session: Session, week_start: date, team_ids: Optional[list[int]] = None) -> dict:
    """Visits per team per day and slot for one week (the team calendar)."""
    days = [week_start + timedelta(days=i) for i in range(7)]
    query = select(JobVisit).where(
        JobVisit.visit_date.between(days[0], days[-1]), JobVisit.status.in_(("scheduled", "assigned", "done", "team unavailable"))
    )
    if team_ids is not None:
        query = query.where(JobVisit.team_id.in_(team_ids))
    visits = list(session.scalars(query.order_by(JobVisit.visit_date, JobVisit.slot)))
    teams = list(session.scalars(select(FieldTeam).where(FieldTeam.active.is_(True)).order_by(FieldTeam.name)))
    if team_ids is not None:
        teams = [t for t in teams if t.id in team_ids]
    grid: dict = {t.id: {(d, s): [] for d in days for s in SLOTS} for t in teams}
    unassigned = []
    for v in visits:
        if v.team_id in grid:
            grid[v.team_id][(v.visit_date, v.slot)].append(v)
        elif v.team_id is None:
            unassigned.append(v)
    return {"days": days, "teams": teams, "grid": grid, "unassigned": unassigned}
