"""Every Dagster job, resolved by name from the Definitions, materializes its assets for a weekly and a
monthly partition against a seeded database; each figure in each workbook reconciles with the database
to the unit (counts, money as Decimal), and each workbook opens in LibreOffice (headless)."""
from __future__ import annotations

import shutil
import subprocess
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from reporting.periods import day_range, period_bounds


def _run(job_name: str, key: str):
    from pipelines import defs

    result = defs.resolve_job_def(job_name).execute_in_process(partition_key=key)
    assert result.success
    return result


def _pairs(sheet) -> dict:
    return {row[0]: row[1] for row in sheet.iter_rows(values_only=True) if row and isinstance(row[0], str)}


def _table(sheet, first_header: str, stop: str | None = None) -> list[tuple]:
    rows = list(sheet.iter_rows(values_only=True))
    start = next(i for i, r in enumerate(rows) if r and r[0] == first_header)
    out = []
    for r in rows[start + 1:]:
        if not r or r[0] is None or r[0] == stop:
            break
        out.append(r)
    return out


def _money(value) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def _expected_oem(session, oem_code: str, period: str, start: date) -> dict:
    from app.models.installations import InstallationJob, InstallationReport, Lead, Oem, SurveyReport

    first, last = period_bounds(period, start)
    since, until = day_range(first, last)
    oem = session.scalar(select(Oem).where(Oem.code == oem_code))
    installs = session.execute(
        select(InstallationReport.submitted_at, Lead.created_at).join(InstallationJob, InstallationJob.id == InstallationReport.job_id)
        .join(Lead, Lead.id == InstallationJob.lead_id)
        .where(InstallationJob.oem_id == oem.id, InstallationReport.submitted_at >= since, InstallationReport.submitted_at < until)).all()
    days = [(a.date() - b.date()).days for a, b in installs]
    jobs = session.execute(select(InstallationJob.stage, InstallationJob.stage_changed_at).join(Lead, Lead.id == InstallationJob.lead_id)
                           .where(InstallationJob.oem_id == oem.id, Lead.created_at < until)).all()
    jobs = [j for j in jobs if not (j.stage in ("Paid", "Cancelled") and j.stage_changed_at < since)]
    stages: dict = {}
    for j in jobs:
        stages[j.stage] = stages.get(j.stage, 0) + 1
    return {
        "New leads": session.scalar(select(func.count()).select_from(Lead).where(Lead.oem_id == oem.id, Lead.created_at >= since, Lead.created_at < until)),
        "Surveys done": session.scalar(select(func.count()).select_from(SurveyReport).join(InstallationJob, InstallationJob.id == SurveyReport.job_id)
                                       .where(InstallationJob.oem_id == oem.id, SurveyReport.submitted_at >= since, SurveyReport.submitted_at < until)),
        "Installations done": len(installs),
        "average": (Decimal(sum(days)) / len(days)).quantize(Decimal("0.1")) if days else None,
        "worst": max(days) if days else None,
        "jobs": len(jobs), "stages": stages,
    }


def _check_oem_workbook(path: Path, expected: dict) -> None:
    wb = load_workbook(path)
    highlights = wb["Highlights"]
    pairs = _pairs(highlights)
    for label in ("New leads", "Surveys done", "Installations done"):
        assert pairs[label] == expected[label], label
    if expected["average"] is None:
        assert pairs["Average days from lead to installation"] == "none installed"
    else:
        assert Decimal(str(pairs["Average days from lead to installation"])) == expected["average"]
        assert pairs["Longest days from lead to installation"] == expected["worst"]
    assert pairs["Jobs in this report"] == expected["jobs"]
    stages = {r[0]: r[1] for r in _table(highlights, "Stage", stop="All jobs") if r[1]}
    assert stages == expected["stages"]
    from app.services.installations import STAGES

    listed = [r[0] for r in _table(highlights, "Stage", stop="All jobs")]
    assert listed == sorted(listed, key=STAGES.index)  # pipeline order
    assert len(highlights._charts) == 1  # the funnel
    jobs = _table(wb["Jobs"], "Job")
    assert len(jobs) == expected["jobs"]
    assert wb["Jobs"].freeze_panes == "A2"


def _libreoffice_opens(paths: list[Path], out: Path) -> None:
    binary = shutil.which("libreoffice") or shutil.which("soffice")
    assert binary, "LibreOffice is missing: scripts/libreoffice.sh installs Debian's libreoffice-calc"
    profile = out / "profile"
    done = subprocess.run([binary, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "pdf",
                           "--outdir", str(out), *map(str, paths)], capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr
    for path in paths:
        pdf = out / (path.stem + ".pdf")
        assert pdf.is_file() and pdf.stat().st_size > 1000, f"{path.name} did not open: {done.stdout} {done.stderr}"


def test_every_asset_reconciles_with_the_database_and_opens_in_libreoffice(app, seeded, session, smtp_server, tmp_path):
    from app.models.installations import OemReport, Payout, PayoutItem
    from app.models.people import FieldTeam
    from app.models.reports import ReportFile
    from app.models.support import Call

    week, month = seeded["week"], seeded["month"]
    for name, key in (("installations_weekly", week), ("installations_monthly", month),
                      ("team_performance_weekly", week), ("team_performance_monthly", month)):
        _run(name, key)
    reports_dir = tmp_path / "reports"
    files = []

    # OEM reports: both OEMs, both periods; e-mailed, and each accepted by the SMTP server
    for period, key in (("weekly", week), ("monthly", month)):
        for code in ("TATA", "MG"):
            path = reports_dir / "installations" / f"{code}-{period}-{key}.xlsx"
            _check_oem_workbook(path, _expected_oem(session, code, period, date.fromisoformat(key)))
            files.append(path)
    session.expire_all()
    assert {r.email_status for r in session.scalars(select(OemReport))} == {"sent"}
    assert len(smtp_server.messages) == 4
    weekly_tata = _expected_oem(session, "TATA", "weekly", date.fromisoformat(week))
    assert (weekly_tata["Installations done"], weekly_tata["average"], weekly_tata["worst"]) == (2, Decimal("1.5"), 2)
    mg_week, mg_month = (_expected_oem(session, "MG", p, date.fromisoformat(k))["New leads"] for p, k in (("weekly", week), ("monthly", month)))
    assert (mg_week, mg_month) == (0, 1)  # the periods differ

    # payout ledger: every item, the total per team and in all, to the cent
    ledger = reports_dir / "datasets" / f"payout-ledger-monthly-{month}.xlsx"
    files.append(ledger)
    since, until = day_range(*period_bounds("monthly", date.fromisoformat(month)))
    items = session.execute(select(PayoutItem.amount, Payout.team_id).join(Payout).where(Payout.created_at >= since, Payout.created_at < until)).all()
    assert len(items) == 2
    wb = load_workbook(ledger)
    rows = _table(wb["Payout items"], "Payout reference", stop="Total")
    assert len(rows) == len(items)
    assert sum((_money(r[-1]) for r in rows), Decimal("0.00")) == sum((i.amount for i in items), Decimal("0.00"))
    total_row = next(r for r in wb["Payout items"].iter_rows(values_only=True) if r and r[0] == "Total")
    assert _money(total_row[-1]) == sum((i.amount for i in items), Decimal("0.00"))
    teams = {r[0]: r for r in _table(wb["Per team"], "Team", stop="All teams")}
    north = session.get(FieldTeam, seeded["north"])
    assert teams[north.name][3] == 2 and _money(teams[north.name][4]) == sum((i.amount for i in items if i.team_id == north.id), Decimal("0.00"))
    record = session.scalar(select(ReportFile).where(ReportFile.kind == "payout_ledger"))
    assert record.total == sum((i.amount for i in items), Decimal("0.00")) and record.rows == 2

    # team performance: calls, tickets, SLA met; field team surveys, installs, first-time-right
    for period, key in (("weekly", week), ("monthly", month)):
        path = reports_dir / "datasets" / f"team-performance-{period}-{key}.xlsx"
        files.append(path)
        since, until = day_range(*period_bounds(period, date.fromisoformat(key)))
        wb = load_workbook(path)
        agents = {r[1]: r for r in _table(wb["Support agents"], "Agent", stop="Desk")}
        calls = session.scalar(select(func.count()).select_from(Call).where(Call.agent_id == seeded["agent"], Call.created_at >= since, Call.created_at < until))
        assert agents["agent"][2] == calls and agents["agent"][3] == 2 and agents["agent"][4] == 1
        assert Decimal(str(agents["agent"][5])) == Decimal("0.5")
        teams = {r[0]: r for r in _table(wb["Field teams"], "Field team", stop="All teams")}
        assert teams[north.name][1:6] == (3, 2, 5, 5, 2)
    assert (agents["agent"][2], calls) == (4, 4)  # the monthly one counts the call outside the week

    _libreoffice_opens(files, tmp_path / "pdf")


def test_the_definitions_resolve_every_job_and_schedules_are_on():
    from dagster import DefaultScheduleStatus

    from pipelines import defs

    for name in ("installations_weekly", "installations_monthly", "team_performance_weekly", "team_performance_monthly"):
        assert defs.resolve_job_def(name).partitions_def is not None
    assert {s.default_status for s in defs.schedules} == {DefaultScheduleStatus.RUNNING}
    assert len(defs.schedules) == 4
