"""The pipeline board: what it shows (jobs by stage, emergencies and overdue first, each card's open
visit and the teams free for it), its stages grouped in phases (one screen, not 18 columns side by
side), and, when no team can be assigned, the reason in words."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from app.models.installations import InstallationJob, JobVisit, TeamBooking
from app.models.people import FieldTeam
from app.services import installations as svc
from app.services.installations_scheduling import can_take

PHASES = [
    ("Lead and documents", [svc.LEAD_LOGGED, svc.INTRO_CALL_DONE, svc.DOCUMENTS_COMPLETE]),
    ("Survey", [svc.SURVEY_SCHEDULED, svc.SURVEY_ASSIGNED, svc.SURVEY_DONE]),
    ("Site and materials", [svc.SITE_NOT_READY, svc.SITE_READY, svc.MATERIALS_CHECKED, svc.LOCAL_PROCUREMENT,
                            svc.MATERIALS_ALLOCATED]),
    ("Installation", [svc.INSTALLATION_SCHEDULED, svc.INSTALLATION_ASSIGNED, svc.INSTALLED]),
    ("Closure and payment", [svc.CLOSURE_CALL_DONE, svc.CLOSURE_PACK_SUBMITTED, svc.PAYABLE]),
    ("On hold", [svc.ON_HOLD]),
]


def phases(stages: Iterable[str]) -> list[tuple[str, list[str]]]:
    """The board's phases, each with the shown stages it holds (a stage not listed gets its own phase)."""
    shown = list(stages)
    grouped = [(name, [s for s in members if s in shown]) for name, members in PHASES]
    listed = {s for _, members in PHASES for s in members}
    grouped += [(s, [s]) for s in shown if s not in listed]
    return [(name, members) for name, members in grouped if members]


def no_team_reason(teams: list, kind: str, district: Optional[str], day, slot: str, booked: set) -> str:
    """Why the assign list is empty: nobody does this kind of visit here, or everyone who does is booked."""
    if not district:
        return "No team free: the job has no district yet"
    skilled = [t for t in teams if can_take(t, kind, district)]
    if not skilled:
        return f"No team free: no active team does {kind}s in {district} (add the district to a team's service areas)"
    taken = [t.name for t in skilled if (t.id, day, slot) in booked]
    return (f"No team free: {', '.join(taken)} {'is' if len(taken) == 1 else 'are'} booked on {day} ({slot}); "
            "reschedule or pick another day")


BOARD_STAGES = svc.ACTIVE_STAGES + [svc.ON_HOLD]


@dataclass
class Board:
    """Everything the board page shows; its cards' forms need no query of their own."""

    now: datetime
    district: str
    columns: dict = field(default_factory=dict)       # stage -> jobs, in board order
    counts: dict = field(default_factory=dict)        # stage -> number of jobs (every district)
    districts: list = field(default_factory=list)
    open_visits: dict = field(default_factory=dict)   # job id -> its scheduled or assigned visit
    teams: list = field(default_factory=list)         # active teams
    booked: set = field(default_factory=set)          # (team id, day, slot) already taken

    def is_overdue(self, job) -> bool:
        return svc.is_overdue(job, self.now)

    def team_options(self, job) -> list:
        """The teams that can take the job's open visit on its day and slot."""
        visit = self.open_visits.get(job.id)
        if visit is None:
            return []
        return [t for t in self.teams if can_take(t, visit.kind, job.district)
                and (t.id, visit.visit_date, visit.slot) not in self.booked]

    def no_team_reason(self, job) -> str:
        visit = self.open_visits[job.id]
        return no_team_reason(self.teams, visit.kind, job.district, visit.visit_date, visit.slot, self.booked)


def load_board(session: Session, district: str, now: datetime) -> Board:
    """The board of the active and on-hold jobs (of one district when given): one query each for jobs,
    open visits, teams and bookings."""
    query = select(InstallationJob).where(InstallationJob.stage.in_(BOARD_STAGES)).options(
        selectinload(InstallationJob.lead), selectinload(InstallationJob.oem))
    if district:
        query = query.where(InstallationJob.district == district)
    jobs = list(session.scalars(query))
    board = Board(now=now, district=district, columns=defaultdict(list))
    for job in sorted(jobs, key=lambda j: svc.board_sort_key(j, now)):
        board.columns[job.stage].append(job)
    for visit in session.scalars(select(JobVisit).where(
            JobVisit.job_id.in_([j.id for j in jobs]), JobVisit.status.in_(("scheduled", "assigned")))):
        board.open_visits[visit.job_id] = visit
    board.teams = list(session.scalars(select(FieldTeam).where(FieldTeam.active.is_(True)).order_by(FieldTeam.name)))
    dates = {v.visit_date for v in board.open_visits.values()}
    if dates:
        board.booked = set(session.execute(select(TeamBooking.team_id, TeamBooking.booking_date, TeamBooking.slot)
                                           .where(TeamBooking.booking_date.in_(dates))).all())
    board.counts = dict(session.execute(select(InstallationJob.stage, func.count()).group_by(InstallationJob.stage)).all())
    board.districts = sorted({d for d, in session.execute(select(InstallationJob.district).distinct()) if d})
    return board
