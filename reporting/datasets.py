"""The datasets built per period and kept for download (report_file rows): the payout ledger and
team performance. Dagster's assets call these; so does the payouts screen for an on-demand ledger."""
from __future__ import annotations

from datetime import date

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.reports import ReportFile
from reporting.payouts import PayoutLedger, payout_ledger, payout_ledger_workbook
from reporting.periods import period_bounds, report_dir
from reporting.team_performance import field_teams, support_team, team_performance_workbook

PAYOUT_LEDGER = "payout_ledger"
TEAM_PERFORMANCE = "team_performance"
TITLES = {PAYOUT_LEDGER: "Field-team payout ledger", TEAM_PERFORMANCE: "Team performance (support desk and field teams)"}


def operator_name() -> str:
    return current_app.config.get("OPERATOR_NAME") or "ChargeOps"


def dataset_path(record: ReportFile):
    return report_dir("datasets") / record.stored_name


def _keep(session: Session, kind: str, period: str, start: date, end: date, data: bytes, rows: int, total=None) -> ReportFile:
    name = f"{kind.replace('_', '-')}-{period}-{start.isoformat()}.xlsx"
    (report_dir("datasets") / name).write_bytes(data)
    record = session.scalar(select(ReportFile).where(ReportFile.kind == kind, ReportFile.period == period, ReportFile.period_start == start))
    if record is None:
        record = ReportFile(kind=kind, period=period, period_start=start, period_end=end, stored_name=name)
        session.add(record)
    record.period_end, record.stored_name, record.rows, record.total, record.created_at = end, name, rows, total, utcnow()
    session.flush()
    return record


def ledger_for_month(session: Session, first: date) -> tuple[PayoutLedger, bytes]:
    ledger = payout_ledger(session, *period_bounds("monthly", first))
    return ledger, payout_ledger_workbook(ledger, operator_name())


def build_payout_ledger(session: Session, first: date) -> tuple[ReportFile, PayoutLedger]:
    ledger, data = ledger_for_month(session, first)
    return _keep(session, PAYOUT_LEDGER, "monthly", ledger.start, ledger.end, data, len(ledger.items), ledger.total), ledger


def build_team_performance(session: Session, period: str, start: date) -> tuple[ReportFile, list, list]:
    start, end = period_bounds(period, start)
    agents, teams = support_team(session, start, end), field_teams(session, start, end)
    data = team_performance_workbook(operator_name(), period, start, end, agents, teams)
    return _keep(session, TEAM_PERFORMANCE, period, start, end, data, len(agents) + len(teams)), agents, teams
