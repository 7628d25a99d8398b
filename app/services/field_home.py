"""The home page's panels per role: each person lands on their own work (CPO the network and open charger
issues, Installer today's issues and maintenance, Finance approvals and payouts, Central Ops the board's
counts and overdue jobs, OEM its pipeline, Field Team its jobs, Procurement its queue, OEM Reporting its
reports). Support roles keep the support dashboard (app/views/home.py)."""
from __future__ import annotations

from typing import Callable

from flask_appbuilder.security.sqla.models import User
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import security as roles
from app.models.base import utcnow
from app.models.field import ChargerIssue, MaintenanceTask
from app.services.chargers import network_summary
from app.models.customers import TOPUP_PENDING, TopUp
from app.services.installations_payouts import due_by_team
from app.models.installations import InstallationJob
from app.services.installations import ACTIVE_STAGES
from app.services.installations import is_overdue
from app.services.installations_access import visible_oem_id
from app.models.installations import JobVisit
from app.services.installations_access import teams_of_user
from app.services.installations import LOCAL_PROCUREMENT, MATERIALS_CHECKED
from app.models.installations import OemReport

Panel = dict  # {"id", "title", "link", "counts": [(label, n, href)], "entries": [(text, href)], "empty"}
PANELS: dict[str, list[Callable[[Session, User], Panel]]] = {}


def panel(*for_roles: str):
    def register(fn):
        for role in for_roles:
            PANELS.setdefault(role, []).append(fn)
        return fn
    return register


def panels_for(session: Session, user: User) -> list[Panel]:
    """Every panel of the person's roles, once each, in the order declared."""
    seen, out = set(), []
    for role in [r.name for r in user.roles]:
        for fn in PANELS.get(role, []):
            if fn not in seen:
                seen.add(fn)
                out.append(fn(session, user))
    return out


@panel(roles.CPO, roles.ADMIN)
def network_panel(session: Session, user: User) -> Panel:
    summary = network_summary(session)
    totals: dict[str, int] = {}
    for per_type in summary.values():
        if isinstance(per_type, dict):
            for bucket, n in per_type.items():
                if isinstance(n, int):
                    totals[bucket] = totals.get(bucket, 0) + n
    return {"id": "home-network", "title": "Network", "link": "/chargers/network/",
            "counts": [(b, n, f"/chargers/network/?bucket={b}") for b, n in totals.items()], "entries": []}


@panel(roles.CPO, roles.MANAGER, roles.DISPATCHER, roles.ADMIN)
def open_issues_panel(session: Session, user: User) -> Panel:
    rows = session.scalars(select(ChargerIssue).where(ChargerIssue.status.in_(("Open", "In Progress")))
                           .order_by(ChargerIssue.id.desc()).limit(10)).all()
    total = session.scalar(select(func.count()).select_from(ChargerIssue).where(ChargerIssue.status.in_(("Open", "In Progress"))))
    return {"id": "home-issues", "title": "Open charger issues", "link": "/field/issues/?open=1",
            "counts": [("open", total, "/field/issues/?open=1")],
            "entries": [(f"#{i.id} {i.charger.cid}: {i.title} ({i.priority}, {i.status})", f"/field/issues/{i.id}") for i in rows],
            "empty": "No open issues."}


@panel(roles.INSTALLER)
def my_field_work_panel(session: Session, user: User) -> Panel:
    today = utcnow().date()
    issues = session.scalars(select(ChargerIssue).where(ChargerIssue.assignee_id == user.id,
                                                        ChargerIssue.status.in_(("Open", "In Progress")))
                             .order_by(ChargerIssue.id.desc()).limit(20)).all()
    tasks = session.scalars(select(MaintenanceTask).where(
        MaintenanceTask.assignee_id == user.id, MaintenanceTask.status.in_(("Planned", "In Progress")),
        MaintenanceTask.due_date <= today).order_by(MaintenanceTask.due_date).limit(20)).all()
    items = [(f"Issue #{i.id} {i.charger.cid}: {i.title} ({i.priority})", f"/field/issues/{i.id}") for i in issues]
    items += [(f"{t.kind} #{t.id} {t.charger.cid if t.charger else t.site}: {t.title} (due {t.due_date})",
               f"/field/maintenance/{t.id}") for t in tasks]
    return {"id": "home-my-work", "title": "Today: my issues and maintenance", "link": "/field/maintenance/calendar/",
            "counts": [("issues", len(issues), "/field/issues/?open=1"), ("maintenance due", len(tasks), "/field/maintenance/")],
            "entries": items, "empty": "Nothing due today."}


@panel(roles.FINANCE)
def finance_panel(session: Session, user: User) -> Panel:
    waiting = session.scalar(select(func.count()).select_from(TopUp).where(TopUp.status == TOPUP_PENDING))
    due = due_by_team(session)
    return {"id": "home-finance", "title": "Approvals waiting and payouts due", "link": "/installations/finance/",
            "counts": [("top-ups waiting for approval", waiting, "/customers/topups/"), ("teams with payouts due", len(due), "/installations/finance/")],
            "entries": [(f"{d['team'].name}: {d['amount']:.2f} for {len(d['jobs'])} job(s)", "/installations/finance/")
                      for d in due[:10]], "empty": "No payouts due."}


def _job_counts(session: Session, oem_id=None) -> list[tuple[str, int, str]]:
    query = select(InstallationJob.stage, func.count()).group_by(InstallationJob.stage)
    if oem_id is not None:
        query = query.where(InstallationJob.oem_id == oem_id)
    counts = dict(session.execute(query).all())
    return [(stage, counts[stage], "/installations/board") for stage in ACTIVE_STAGES if counts.get(stage)]


@panel(roles.CENTRAL_OPS)
def board_panel(session: Session, user: User) -> Panel:
    now = utcnow()
    jobs = session.scalars(select(InstallationJob).where(InstallationJob.stage.in_(ACTIVE_STAGES))).all()
    overdue = [j for j in jobs if is_overdue(j, now)]
    return {"id": "home-board", "title": "Installation board", "link": "/installations/board",
            "counts": _job_counts(session) + [("overdue", len(overdue), "/installations/board")],
            "entries": [(f"{j.code}: {j.stage}", f"/installations/job/{j.id}") for j in overdue[:15]],
            "empty": "No overdue jobs."}


@panel(roles.OEM)
def oem_pipeline_panel(session: Session, user: User) -> Panel:
    oem_id = visible_oem_id(session, user)
    counts = _job_counts(session, oem_id if oem_id is not None else -1)
    return {"id": "home-pipeline", "title": "Your pipeline", "link": "/installations/oem/",
            "counts": [(s, n, "/installations/oem/") for s, n, _ in counts], "entries": [], "empty": "No leads in progress."}


@panel(roles.FIELD_TEAM)
def field_team_panel(session: Session, user: User) -> Panel:
    teams = teams_of_user(session, user)
    visits = session.scalars(select(JobVisit).where(JobVisit.team_id.in_(teams or [-1]),
                                                    JobVisit.status.in_(("scheduled", "assigned")))
                             .order_by(JobVisit.visit_date).limit(20)).all()
    return {"id": "home-field-jobs", "title": "Your jobs", "link": "/installations/my-jobs/",
            "counts": [("visits ahead", len(visits), "/installations/my-jobs/")],
            "entries": [(f"{v.visit_date} {v.slot}: {v.kind} {v.code}", "/installations/my-jobs/") for v in visits],
            "empty": "No visits booked."}


@panel(roles.PROCUREMENT)
def procurement_panel(session: Session, user: User) -> Panel:
    counts = dict(session.execute(select(InstallationJob.stage, func.count()).where(
        InstallationJob.stage.in_((MATERIALS_CHECKED, LOCAL_PROCUREMENT))).group_by(InstallationJob.stage)).all())
    return {"id": "home-procurement", "title": "Procurement queue", "link": "/installations/procurement/",
            "counts": [(s, counts.get(s, 0), "/installations/procurement/") for s in (MATERIALS_CHECKED, LOCAL_PROCUREMENT)],
            "entries": []}


@panel(roles.OEM_REPORTING)
def reports_panel(session: Session, user: User) -> Panel:
    reports = session.scalars(select(OemReport).order_by(OemReport.id.desc()).limit(10)).all()
    return {"id": "home-reports", "title": "OEM reports", "link": "/installations/oem/",
            "counts": [("reports built", session.scalar(select(func.count()).select_from(OemReport)), "/installations/oem/")],
            "entries": [(f"{r.oem.name if r.oem else r.oem_id} {r.period} {r.period_start}–{r.period_end} ({r.rows} rows)",
                       "/installations/oem/") for r in reports], "empty": "No reports yet."}
