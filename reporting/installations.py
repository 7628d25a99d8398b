"""Installations reporting: OEM weekly/monthly progress workbooks (pandas + openpyxl) and their e-mail.

Dagster assets and the `flask installations-report` command both call these functions.
"""
from __future__ import annotations

import io
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pandas as pd
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.integrations.email import send_mail
from app.models.base import utcnow
from app.models.installations import InstallationJob, JobVisit, Lead, Oem, OemReport, Payout, PayoutItem

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

JOB_COLUMNS = [
    "job", "oem_ref", "customer", "district", "source", "lead_logged", "stage", "stage_since", "survey_date",
    "installation_date", "charger_serial", "ocpp_identity", "site_ready", "required_work", "closed", "paid",
]


def period_bounds(period: str, start: date) -> tuple[date, date]:
    """Inclusive dates of a weekly (7 days) or monthly (calendar month) period starting at `start`."""
    if period == "weekly":
        return start, start + timedelta(days=6)
    if period == "monthly":
        first = start.replace(day=1)
        nxt = (first + timedelta(days=32)).replace(day=1)
        return first, nxt - timedelta(days=1)
    raise ValueError(f"period must be weekly or monthly, not {period}")


def oem_progress_frame(session: Session, oem_id: int, start: date, end: date) -> pd.DataFrame:
    """Every job of the OEM that was logged up to `end` and still open or moved during the period."""
    since, until = datetime.combine(start, time.min), datetime.combine(end, time.max)
    jobs = list(session.scalars(
        select(InstallationJob).join(Lead, Lead.id == InstallationJob.lead_id)
        .where(InstallationJob.oem_id == oem_id, Lead.created_at <= until)
        .options(selectinload(InstallationJob.lead)).order_by(InstallationJob.id)
    ))
    visits: dict = {}
    for v in session.scalars(select(JobVisit).where(JobVisit.job_id.in_([j.id for j in jobs]),
                                                    JobVisit.status.in_(("scheduled", "assigned", "done")))):
        visits.setdefault((v.job_id, v.kind), v.visit_date)
    rows = []
    for j in jobs:
        if j.stage in ("Paid", "Cancelled") and j.stage_changed_at < since:
            continue  # finished before the period: not news for this report
        rows.append({
            "job": j.code, "oem_ref": j.lead.oem_ref, "customer": j.lead.customer_name, "district": j.district,
            "source": j.lead.source, "lead_logged": j.lead.created_at.date(), "stage": j.stage,
            "stage_since": j.stage_changed_at.date(), "survey_date": visits.get((j.id, "survey")),
            "installation_date": visits.get((j.id, "installation")), "charger_serial": j.charger_serial,
            "ocpp_identity": j.ocpp_identity, "site_ready": {True: "yes", False: "no"}.get(j.site_ready, ""),
            "required_work": j.required_work or "", "closed": j.closure_submitted_at.date() if j.closure_submitted_at else None,
            "paid": j.paid_at.date() if j.paid_at else None,
        })
    return pd.DataFrame(rows, columns=JOB_COLUMNS)


def summary_frame(jobs: pd.DataFrame) -> pd.DataFrame:
    if jobs.empty:
        return pd.DataFrame({"stage": [], "jobs": []})
    return jobs.groupby("stage").size().reset_index(name="jobs").sort_values("jobs", ascending=False)


def build_workbook(oem: Oem, period: str, start: date, end: date, jobs: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        header = pd.DataFrame({"": ["OEM", "Period", "From", "To", "Jobs", "Generated"],
                               "value": [oem.name, period, start.isoformat(), end.isoformat(), len(jobs), utcnow().isoformat(timespec="minutes")]})
        header.to_excel(writer, sheet_name="Summary", index=False)
        summary_frame(jobs).to_excel(writer, sheet_name="Summary", index=False, startrow=len(header) + 2)
        jobs.to_excel(writer, sheet_name="Jobs", index=False)
        for sheet in writer.sheets.values():
            for column in sheet.columns:
                sheet.column_dimensions[column[0].column_letter].width = max(12, min(40, max(len(str(c.value or "")) for c in column) + 2))
    return buffer.getvalue()


def report_dir() -> Path:
    path = Path(current_app.config["VAR_DIR"]) / "reports" / "installations"
    path.mkdir(parents=True, exist_ok=True)
    return path


def report_path(stored_name: str) -> Path:
    return report_dir() / stored_name


def recipients(oem: Oem) -> list[str]:
    extra = [e.strip() for e in (oem.report_emails or "").split(",") if e.strip()]
    return ([oem.contact_email] if oem.contact_email else []) + extra


def oem_report(session: Session, oem: Oem, period: str, start: date, email: bool = True) -> tuple[OemReport, pd.DataFrame]:
    """Build (or rebuild) the OEM's report for the period, keep it for the portal, and e-mail it to the OEM."""
    start, end = period_bounds(period, start)
    jobs = oem_progress_frame(session, oem.id, start, end)
    data = build_workbook(oem, period, start, end, jobs)
    name = f"{oem.code}-{period}-{start.isoformat()}.xlsx"
    report_path(name).write_bytes(data)
    record = session.scalar(select(OemReport).where(OemReport.oem_id == oem.id, OemReport.period == period, OemReport.period_start == start))
    if record is None:
        record = OemReport(oem_id=oem.id, period=period, period_start=start, period_end=end, stored_name=name)
        session.add(record)
    record.rows, record.period_end, record.stored_name, record.created_at = len(jobs), end, name, utcnow()
    to = recipients(oem)
    if email and to:
        send_mail(", ".join(to), f"{oem.name}: EV charger installations, {period} report {start} to {end}",
                  f"Dear {oem.contact_name or oem.name},\n\nAttached: {len(jobs)} installation jobs, {start} to {end}.\n\nChargeOps OEM Reporting",
                  sender=current_app.config.get("INSTALLATIONS_REPORT_FROM") or current_app.config["MAIL_FROM"],
                  attachments=[(name, data, XLSX_MIMETYPE)])
        record.emailed_to = ", ".join(to)
    session.flush()
    return record, jobs


def payout_ledger_frame(session: Session, start: date, end: date) -> pd.DataFrame:
    """Every field-team payout item released in the period: the payout ledger."""
    since, until = datetime.combine(start, time.min), datetime.combine(end, time.max)
    rows = session.execute(
        select(Payout.reference, Payout.created_at, Payout.period_start, Payout.period_end, PayoutItem.job_id,
               PayoutItem.survey_amount, PayoutItem.installation_amount, PayoutItem.amount, Payout.team_id)
        .join(PayoutItem, PayoutItem.payout_id == Payout.id).where(Payout.created_at.between(since, until)).order_by(Payout.id, PayoutItem.id)
    ).all()
    from app.models.people import FieldTeam

    teams = dict(session.execute(select(FieldTeam.id, FieldTeam.name)).all())
    return pd.DataFrame([{
        "reference": r.reference, "released": r.created_at, "team": teams.get(r.team_id), "period_start": r.period_start,
        "period_end": r.period_end, "job": f"INS-{r.job_id:05d}", "survey": r.survey_amount, "installation": r.installation_amount,
        "amount": r.amount,
    } for r in rows], columns=["reference", "released", "team", "period_start", "period_end", "job", "survey", "installation", "amount"])


def payout_ledger_workbook(session: Session, start: date, end: date) -> tuple[Path, pd.DataFrame]:
    frame = payout_ledger_frame(session, start, end)
    path = report_dir() / f"payout-ledger-{start.isoformat()}.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        frame.to_excel(writer, sheet_name="Payouts", index=False)
        if not frame.empty:
            frame.groupby("team")["amount"].sum().reset_index().to_excel(writer, sheet_name="Per team", index=False)
    return path, frame
