"""Team performance per period: support agents (calls and tickets handled, SLA met) and field teams
(jobs done, on-time visits, first-time-right installs, lead-to-installation days)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models.installations import InstallationJob, InstallationReport, JobVisit, Lead, SurveyReport
from app.models.people import FieldTeam
from app.models.support import Ticket
from app.services.support_dashboard import team_performance
from reporting.excel import Column, Report
from reporting.periods import day_range, describe

SUPPORT_COLUMNS = [
    Column("Agent", width=26), Column("User", width=14), Column("Calls handled", "int", total=True),
    Column("Tickets resolved", "int", total=True), Column("Resolved within SLA", "int", total=True, width=14),
    Column("SLA met", "percent"), Column("Median minutes to resolve", "int", width=16),
]
FIELD_COLUMNS = [
    Column("Field team", width=26), Column("Surveys done", "int", total=True), Column("Installations done", "int", total=True, width=14),
    Column("Jobs done", "int", total=True), Column("Visits on time", "int", total=True),
    Column("First-time-right installs", "int", total=True, width=16),
    Column("Average days lead to installation", "decimal", width=18), Column("Longest days lead to installation", "int", width=18),
]


def _ratio(part: int, whole: int) -> Optional[Decimal]:
    return (Decimal(part) / whole).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP) if whole else None


@dataclass
class AgentRow:
    name: str
    username: str
    calls: int
    resolved: int
    within_sla: int
    median_minutes: Optional[int]

    def row(self) -> tuple:
        return (self.name, self.username, self.calls, self.resolved, self.within_sla, _ratio(self.within_sla, self.resolved),
                self.median_minutes)


def support_team(session: Session, start: date, end: date) -> list[AgentRow]:
    """Per agent active between start and end (inclusive dates); the dashboard's figures plus SLA met."""
    since, until = day_range(start, end)
    rows = team_performance(session, since, until)
    met = dict(session.execute(
        select(Ticket.assignee_id, func.count()).where(
            Ticket.resolved_at >= since, Ticket.resolved_at < until,
            (Ticket.resolution_due.is_(None)) | (Ticket.resolved_at <= Ticket.resolution_due))
        .group_by(Ticket.assignee_id)).all())
    return [AgentRow(r["name"], r["username"], r["calls"], r["resolved"], min(met.get(r["user_id"], 0), r["resolved"]),
                     r["median_minutes"]) for r in rows]


@dataclass
class FieldTeamRow:
    team: str
    surveys: int
    installations: int
    on_time: int
    first_time_right: int
    lead_to_install_days: list[int]

    def row(self) -> tuple:
        days = self.lead_to_install_days
        average = (Decimal(sum(days)) / len(days)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP) if days else None
        return (self.team, self.surveys, self.installations, self.surveys + self.installations, self.on_time,
                self.first_time_right, average, max(days) if days else None)


def field_teams(session: Session, start: date, end: date) -> list[FieldTeamRow]:
    """Per field team, the survey and installation reports it submitted between start and end.

    A visit is on time when its report came in on or before the day it was booked for; an install is
    first-time-right when the job needed a single installation visit (never rebooked or dropped)."""
    since, until = day_range(start, end)
    teams = dict(session.execute(select(FieldTeam.id, FieldTeam.name)).all())
    booked = {}  # (job, kind) -> the day of the visit that was done
    visits_per_install: dict[int, int] = {}
    for job_id, kind, visit_date, status in session.execute(select(JobVisit.job_id, JobVisit.kind, JobVisit.visit_date, JobVisit.status)):
        if status == "done":
            booked[(job_id, kind)] = visit_date
        if kind == "installation":
            visits_per_install[job_id] = visits_per_install.get(job_id, 0) + 1
    result: dict[int, FieldTeamRow] = {}

    def team_row(team_id) -> FieldTeamRow:
        return result.setdefault(team_id, FieldTeamRow(teams.get(team_id, "(no team)"), 0, 0, 0, 0, []))

    for job_id, team_id, submitted in session.execute(
        select(SurveyReport.job_id, SurveyReport.team_id, SurveyReport.submitted_at)
        .where(SurveyReport.submitted_at >= since, SurveyReport.submitted_at < until)):
        row = team_row(team_id)
        row.surveys += 1
        day = booked.get((job_id, "survey"))
        row.on_time += int(day is not None and submitted.date() <= day)
    for job_id, team_id, submitted, logged in session.execute(
        select(InstallationReport.job_id, InstallationReport.team_id, InstallationReport.submitted_at, Lead.created_at)
        .join(InstallationJob, InstallationJob.id == InstallationReport.job_id).join(Lead, Lead.id == InstallationJob.lead_id)
        .where(InstallationReport.submitted_at >= since, InstallationReport.submitted_at < until)):
        row = team_row(team_id)
        row.installations += 1
        day = booked.get((job_id, "installation"))
        row.on_time += int(day is not None and submitted.date() <= day)
        row.first_time_right += int(visits_per_install.get(job_id, 0) == 1)
        row.lead_to_install_days.append((submitted.date() - logged.date()).days)
    return sorted(result.values(), key=lambda r: r.team)


def team_performance_workbook(operator: str, period: str, start: date, end: date,
                              agents: list[AgentRow], teams: list[FieldTeamRow]) -> bytes:
    report = Report()
    when = describe(period, start, end)
    support = report.sheet("Support agents", SUPPORT_COLUMNS, freeze_below=4)
    support.title(f"{operator}: support desk performance, {when}", f"{start:%d %B %Y} to {end:%d %B %Y}")
    support.table(SUPPORT_COLUMNS, [a.row() for a in agents], totals_label="Desk")
    field = report.sheet("Field teams", FIELD_COLUMNS, freeze_below=4)
    field.title(f"{operator}: field team performance, {when}", f"{start:%d %B %Y} to {end:%d %B %Y}")
    field.table(FIELD_COLUMNS, [t.row() for t in teams], totals_label="All teams")
    return report.to_bytes()
