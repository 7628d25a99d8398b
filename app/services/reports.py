"""Reports and datasets: who may list and download which, and what the list shows.

OEM reports belong to OEM Reporting and Managers, and each to its own OEM; the payout ledger to
Finance and Managers; team performance to Managers. Admin may read every one.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from flask_appbuilder.security.sqla.models import User
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.models.installations import OemReport
from app.models.reports import ReportFile
from app.security import ADMIN, FINANCE, MANAGER, OEM, OEM_REPORTING
from app.services import InvalidInput, NotFound
from app.services.installations_access import visible_oem_id
from reporting.datasets import dataset_path
from reporting.installations import report_path

OEM_REPORT = "oem_report"
REPORT_OWNERS: dict[str, tuple[str, ...]] = {
    OEM_REPORT: (ADMIN, MANAGER, OEM_REPORTING, OEM),  # an OEM: its own only
    "payout_ledger": (ADMIN, MANAGER, FINANCE),
    "team_performance": (ADMIN, MANAGER),
}
TITLES = {OEM_REPORT: "OEM progress report", "payout_ledger": "Field-team payout ledger",
          "team_performance": "Team performance (support desk and field teams)"}


def _roles(user: Optional[User]) -> set[str]:
    return {r.name for r in (user.roles if user else [])}


def may_read(user: Optional[User], kind: str) -> bool:
    return bool(_roles(user) & set(REPORT_OWNERS.get(kind, ())))


def _oem_row(r: OemReport) -> dict:
    return {
        "kind": OEM_REPORT, "id": r.id, "title": f"{r.oem.name}: {r.period} report", "oem": r.oem.code,
        "period": r.period, "period_start": r.period_start.isoformat(), "period_end": r.period_end.isoformat(),
        "rows": r.rows, "total": None, "file": r.stored_name, "built_at": r.created_at,
        "email": {"status": r.email_status, "to": r.emailed_to, "reason": r.email_error, "at": r.emailed_at},
    }


def _file_row(r: ReportFile) -> dict:
    return {
        "kind": r.kind, "id": r.id, "title": TITLES.get(r.kind, r.kind), "oem": None, "period": r.period,
        "period_start": r.period_start.isoformat(), "period_end": r.period_end.isoformat(), "rows": r.rows,
        "total": None if r.total is None else str(r.total), "file": r.stored_name, "built_at": r.created_at, "email": None,
    }


def list_reports(session: Session, user: User, limit: int = 200) -> list[dict]:
    """Every report and dataset the user may download, newest period first."""
    rows: list[dict] = []
    if may_read(user, OEM_REPORT):
        query = select(OemReport).options(selectinload(OemReport.oem)).order_by(OemReport.period_start.desc(), OemReport.id.desc())
        oem_id = visible_oem_id(session, user)
        if oem_id is not None:
            query = query.where(OemReport.oem_id == oem_id)
        rows += [_oem_row(r) for r in session.scalars(query.limit(limit))]
    kinds = [k for k in REPORT_OWNERS if k != OEM_REPORT and may_read(user, k)]
    if kinds:
        query = select(ReportFile).where(ReportFile.kind.in_(kinds)).order_by(ReportFile.period_start.desc(), ReportFile.id.desc())
        rows += [_file_row(r) for r in session.scalars(query.limit(limit))]
    rows.sort(key=lambda r: (r["period_start"], r["built_at"]), reverse=True)
    return rows


def report_file(session: Session, user: User, kind: str, report_id: int) -> tuple[Path, str]:
    """The stored file of one report the user may read; another OEM's is 'not found', like a missing one."""
    if kind not in REPORT_OWNERS:
        raise InvalidInput(f"kind must be one of {', '.join(REPORT_OWNERS)}")
    if not may_read(user, kind):
        raise NotFound("No such report")
    if kind == OEM_REPORT:
        record = session.get(OemReport, report_id)
        oem_id = visible_oem_id(session, user)
        if record is None or (oem_id is not None and record.oem_id != oem_id):
            raise NotFound("No such report")
        path = report_path(record.stored_name)
    else:
        record = session.get(ReportFile, report_id)
        if record is None or record.kind != kind:
            raise NotFound("No such report")
        path = dataset_path(record)
    if not path.is_file():
        raise NotFound("The report's file is no longer on the server; build the period again")
    return path, record.stored_name


def sent_report_mail(session: Session, limit: int = 200) -> list[OemReport]:
    """Every OEM report e-mail that was tried, newest first, with its status and reason."""
    return list(session.scalars(
        select(OemReport).options(selectinload(OemReport.oem)).where(OemReport.email_status.is_not(None))
        .order_by(OemReport.emailed_at.desc().nulls_last(), OemReport.id.desc()).limit(limit)))
