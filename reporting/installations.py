"""OEM weekly/monthly progress reports: what an OEM's manager reads, and its e-mail.

The workbook opens on the period's highlights (new leads, surveys, installations, lead-to-installation
days, the jobs stuck longest and why), then the jobs per stage in pipeline order with a funnel chart,
then every job under headers in the OEM's words. Dagster assets, the Celery task and
`flask installations-report` all call `oem_report`.
"""
from __future__ import annotations

import smtplib
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Optional

from flask import current_app
from openpyxl.chart import BarChart, Reference
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.integrations.email import SmtpRefused, send_mail
from app.models.base import utcnow
from app.models.installations import InstallationJob, InstallationReport, JobEvent, JobVisit, Lead, Oem, OemReport, SurveyReport
from app.services.installations import ACTIVE_STAGES, CANCELLED, ON_HOLD, PAID, STAGES
from reporting.excel import XLSX_MIMETYPE, Column, Report
from reporting.periods import day_range, describe, period_bounds, report_dir  # noqa: F401  (period_bounds: callers' import)

JOB_COLUMNS = [
    Column("Job", width=11), Column("Your reference", width=16), Column("Customer", width=24), Column("District", width=14),
    Column("Came in through", width=14), Column("Lead received", "date"), Column("Stage", width=24),
    Column("In this stage since", "date", width=15), Column("Survey date", "date"), Column("Installation date", "date", width=15),
    Column("Charger serial", width=16), Column("OCPP identity", width=16), Column("Site ready", width=10),
    Column("Work needed on site", width=24), Column("Closed", "date"), Column("Paid", "date"),
]
STUCK_COLUMNS = [Column("Job"), Column("Your reference"), Column("Customer"), Column("Stage"),
                 Column("Days in this stage", "int"), Column("Why")]
STUCK_SHOWN = 5


@dataclass
class OemPeriod:
    """The figures of one OEM's report, as the workbook shows them (tests reconcile them with the database)."""

    oem: Oem
    period: str
    start: date
    end: date
    jobs: list[tuple] = field(default_factory=list)  # one row per job, JOB_COLUMNS order
    new_leads: int = 0
    surveys_done: int = 0
    installations_done: int = 0
    lead_to_install_days: list[int] = field(default_factory=list)
    stuck: list[tuple] = field(default_factory=list)  # STUCK_COLUMNS order
    stages: list[tuple[str, int]] = field(default_factory=list)  # pipeline order

    @property
    def average_lead_to_install_days(self) -> Optional[Decimal]:
        days = self.lead_to_install_days
        if not days:
            return None
        return (Decimal(sum(days)) / len(days)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)

    @property
    def worst_lead_to_install_days(self) -> Optional[int]:
        return max(self.lead_to_install_days) if self.lead_to_install_days else None

    def title(self) -> str:
        operator = current_app.config.get("OPERATOR_NAME") or current_app.config.get("APP_NAME", "ChargeOps")
        return f"{operator}: EV charger installations for {self.oem.name}, {describe(self.period, self.start, self.end)}"


def _stage_rank(stage: str) -> int:
    return STAGES.index(stage) if stage in STAGES else len(STAGES)


def _why_stuck(stage: str, held_from: Optional[str], required_work: Optional[str], note: Optional[str]) -> str:
    if stage == ON_HOLD:
        return f"On hold (from {held_from})" + (f": {note}" if note else "")
    if required_work and stage not in (PAID, CANCELLED) and _stage_rank(stage) <= _stage_rank("Site ready"):
        return f"Site work needed: {required_work}" + (f"; {note}" if note else "")
    if note:
        return note
    following = next((s for s in STAGES[_stage_rank(stage) + 1:] if s in ACTIVE_STAGES or s == PAID), None)
    return f"Waiting for: {following}" if following else ""


def oem_period(session: Session, oem: Oem, period: str, start: date) -> OemPeriod:
    """Every figure of the OEM's report for the period (period 'weekly' or 'monthly' starting at `start`)."""
    start, end = period_bounds(period, start)
    since, until = day_range(start, end)
    result = OemPeriod(oem=oem, period=period, start=start, end=end)
    rows = session.execute(
        select(InstallationJob.id, Lead.oem_ref, Lead.customer_name, InstallationJob.district, Lead.source, Lead.created_at,
               InstallationJob.stage, InstallationJob.stage_changed_at, InstallationJob.charger_serial, InstallationJob.ocpp_identity,
               InstallationJob.site_ready, InstallationJob.required_work, InstallationJob.closure_submitted_at,
               InstallationJob.paid_at, InstallationJob.held_from_stage)
        .join(Lead, Lead.id == InstallationJob.lead_id)
        .where(InstallationJob.oem_id == oem.id, Lead.created_at < until)
    ).all()
    visits: dict = {}
    for job_id, kind, visit_date in session.execute(
        select(JobVisit.job_id, JobVisit.kind, JobVisit.visit_date).join(InstallationJob, InstallationJob.id == JobVisit.job_id)
        .where(InstallationJob.oem_id == oem.id, JobVisit.status.in_(("scheduled", "assigned", "done"))).order_by(JobVisit.id)
    ):
        visits.setdefault((job_id, kind), visit_date)
    rows = [r for r in rows if not (r.stage in (PAID, CANCELLED) and r.stage_changed_at < since)]  # finished before: not news
    rows.sort(key=lambda r: (_stage_rank(r.stage), r.created_at, r.id))
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.stage] = counts.get(r.stage, 0) + 1
        result.jobs.append((
            f"INS-{r.id:05d}", r.oem_ref, r.customer_name, r.district, r.source, r.created_at.date(), r.stage,
            r.stage_changed_at.date(), visits.get((r.id, "survey")), visits.get((r.id, "installation")), r.charger_serial,
            r.ocpp_identity, {True: "Yes", False: "No"}.get(r.site_ready, ""), r.required_work or "",
            r.closure_submitted_at.date() if r.closure_submitted_at else None, r.paid_at.date() if r.paid_at else None,
        ))
    result.stages = [(s, counts.get(s, 0)) for s in STAGES if s in ACTIVE_STAGES or s == PAID or counts.get(s)]

    in_period = lambda column: (column >= since) & (column < until)  # noqa: E731
    result.new_leads = session.scalar(select(func.count()).select_from(Lead).where(Lead.oem_id == oem.id, in_period(Lead.created_at))) or 0
    result.surveys_done = session.scalar(
        select(func.count()).select_from(SurveyReport).join(InstallationJob, InstallationJob.id == SurveyReport.job_id)
        .where(InstallationJob.oem_id == oem.id, in_period(SurveyReport.submitted_at))) or 0
    installed = session.execute(
        select(InstallationReport.submitted_at, Lead.created_at).join(InstallationJob, InstallationJob.id == InstallationReport.job_id)
        .join(Lead, Lead.id == InstallationJob.lead_id)
        .where(InstallationJob.oem_id == oem.id, in_period(InstallationReport.submitted_at))).all()
    result.installations_done = len(installed)
    result.lead_to_install_days = [(done.date() - logged.date()).days for done, logged in installed]

    open_rows = sorted((r for r in rows if r.stage not in (PAID, CANCELLED)), key=lambda r: (r.stage_changed_at, r.id))[:STUCK_SHOWN]
    notes = {}
    if open_rows:
        for job_id, comment in session.execute(
            select(JobEvent.job_id, JobEvent.comment).where(JobEvent.job_id.in_([r.id for r in open_rows]), JobEvent.comment.is_not(None))
            .order_by(JobEvent.id)
        ):
            notes[job_id] = comment  # the latest note wins
    as_of = min(end, utcnow().date())
    for r in open_rows:
        result.stuck.append((f"INS-{r.id:05d}", r.oem_ref, r.customer_name, r.stage, max(0, (as_of - r.stage_changed_at.date()).days),
                             _why_stuck(r.stage, r.held_from_stage, r.required_work, notes.get(r.id))))
    return result


def oem_workbook(data: OemPeriod) -> bytes:
    """Highlights first, the funnel of stages (with its chart), the jobs stuck longest, then every job."""
    report = Report()
    summary = report.sheet("Highlights", widths=(36, 16, 26, 26, 18, 48))
    summary.title(data.title(), f"{data.start:%d %B %Y} to {data.end:%d %B %Y}. Prepared {utcnow():%d %B %Y}.")
    summary.heading("This period")
    summary.pairs([
        ("New leads", data.new_leads, "int"), ("Surveys done", data.surveys_done, "int"),
        ("Installations done", data.installations_done, "int"),
        ("Average days from lead to installation", data.average_lead_to_install_days if data.average_lead_to_install_days is not None else "none installed", "decimal"),
        ("Longest days from lead to installation", data.worst_lead_to_install_days if data.worst_lead_to_install_days is not None else "none installed", "int"),
        ("Jobs in this report", len(data.jobs), "int"),
    ])
    summary.heading("Jobs stuck longest")
    if data.stuck:
        summary.table(STUCK_COLUMNS, data.stuck)
    else:
        summary.append(["No open jobs."])
        summary.append([])
    summary.heading("Jobs by stage, in pipeline order")
    header, last = summary.table([Column("Stage"), Column("Jobs", "int", total=True)], data.stages, totals_label="All jobs")
    if data.stages:
        funnel = BarChart()
        funnel.type = "bar"  # horizontal bars, first stage on top: a funnel
        funnel.title = "Jobs by stage"
        funnel.legend = None
        funnel.y_axis.title = "Jobs"
        funnel.x_axis.scaling.orientation = "maxMin"
        funnel.add_data(Reference(summary.ws, min_col=2, min_row=header, max_row=last), titles_from_data=True)
        funnel.set_categories(Reference(summary.ws, min_col=1, min_row=header + 1, max_row=last))
        funnel.height, funnel.width = 11, 18
        summary.ws.add_chart(funnel, f"C{header}")
    jobs = report.sheet("Jobs", JOB_COLUMNS, freeze_below=1)
    jobs.table(JOB_COLUMNS, data.jobs)
    return report.to_bytes()


def report_path(stored_name: str) -> Path:
    return report_dir("installations") / stored_name


def recipients(oem: Oem) -> list[str]:
    extra = [e.strip() for e in (oem.report_emails or "").split(",") if e.strip()]
    return ([oem.contact_email] if oem.contact_email else []) + extra


def smtp_reason(exc: BaseException) -> str:
    """What the mail server (or the network) said, in one line for the report's e-mail status."""
    cause = exc.__cause__ if isinstance(exc, SmtpRefused) and exc.__cause__ else exc
    if isinstance(cause, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{rcpt} refused: {code} {msg.decode(errors='replace') if isinstance(msg, bytes) else msg}"
                         for rcpt, (code, msg) in cause.recipients.items())
    if isinstance(cause, smtplib.SMTPResponseException):
        msg = cause.smtp_error.decode(errors="replace") if isinstance(cause.smtp_error, bytes) else cause.smtp_error
        return f"the mail server answered {cause.smtp_code} {msg}"
    if isinstance(cause, (ConnectionError, OSError)) and not isinstance(cause, smtplib.SMTPException):
        return f"could not reach the mail server: {cause}"
    return str(cause) or cause.__class__.__name__


def build_oem_report(session: Session, oem: Oem, period: str, start: date) -> tuple[OemReport, OemPeriod, bytes]:
    """Build (or rebuild) the OEM's report for the period and keep it for the portal; no e-mail."""
    data = oem_period(session, oem, period, start)
    workbook = oem_workbook(data)
    name = f"{oem.code}-{period}-{data.start.isoformat()}.xlsx"
    report_path(name).write_bytes(workbook)
    record = session.scalar(select(OemReport).where(OemReport.oem_id == oem.id, OemReport.period == period,
                                                    OemReport.period_start == data.start))
    if record is None:
        record = OemReport(oem_id=oem.id, period=period, period_start=data.start, period_end=data.end, stored_name=name)
        session.add(record)
    record.rows, record.period_end, record.stored_name, record.created_at = len(data.jobs), data.end, name, utcnow()
    session.flush()
    return record, data, workbook


def email_oem_report(session: Session, record: OemReport, data: OemPeriod, workbook: bytes) -> bool:
    """E-mail the report; its status is 'sent' only once the SMTP server accepted it, else 'failed' and why.

    Returns False when the server could not be reached (worth retrying), True otherwise."""
    oem = data.oem
    to = recipients(oem)
    if not to:
        record.emailed_to, record.email_status, record.email_error = None, "failed", "the OEM has no report e-mail address"
        session.flush()
        return True
    record.emailed_to = ", ".join(to)
    try:
        send_mail(record.emailed_to, f"{data.title()} ({data.start} to {data.end})",
                  f"Dear {oem.contact_name or oem.name},\n\nAttached is your {data.period} report: {data.new_leads} new leads, "
                  f"{data.surveys_done} surveys and {data.installations_done} installations done, {len(data.jobs)} jobs in all, "
                  f"{data.start:%d %B} to {data.end:%d %B %Y}.\n\n"
                  f"{current_app.config.get('OPERATOR_NAME', 'ChargeOps')} OEM Reporting",
                  sender=current_app.config.get("INSTALLATIONS_REPORT_FROM") or current_app.config["MAIL_FROM"],
                  attachments=[(record.stored_name, workbook, XLSX_MIMETYPE)])
    except (SmtpRefused, smtplib.SMTPException, OSError) as exc:
        record.email_status, record.email_error = "failed", smtp_reason(exc)
        session.flush()
        reachable = isinstance(exc, (SmtpRefused, smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused))
        return reachable
    record.email_status, record.email_error, record.emailed_at = "sent", None, utcnow()
    session.flush()
    return True


def oem_report(session: Session, oem: Oem, period: str, start: date, email: bool = True) -> tuple[OemReport, list[tuple]]:
    """Build the OEM's report for the period, keep it for the portal, and e-mail it to the OEM."""
    record, data, workbook = build_oem_report(session, oem, period, start)
    if email:
        email_oem_report(session, record, data, workbook)
    return record, data.jobs
