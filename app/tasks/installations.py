"""Installations Celery tasks: load by id, call a service, decide retries."""
from __future__ import annotations

import smtplib
from datetime import date

from celery import shared_task

from app.extensions import db
from app.services.installations_notices import remind_overdue
from app.models.installations import Oem
from reporting.installations import build_oem_report, email_oem_report


@shared_task(name="installations.remind_overdue", ignore_result=False)
def remind_overdue_task() -> int:
    """Hourly: tell Central Ops about jobs past their stage's time limit."""
    count = remind_overdue(db.session)
    db.session.commit()
    return count


@shared_task(name="installations.send_oem_report", ignore_result=False, autoretry_for=(smtplib.SMTPException, OSError),
             retry_backoff=True, max_retries=5)
def send_oem_report_task(oem_id: int, period: str, start: str) -> dict:
    """Build and e-mail one OEM report; the report shows 'failed' and why at once, and the task retries
    while the mail server cannot be reached (a refusal is final)."""
    oem = db.session.get(Oem, oem_id)
    if oem is None:
        return {"error": f"no OEM {oem_id}"}
    record, data, workbook = build_oem_report(db.session, oem, period, date.fromisoformat(start))
    answered = email_oem_report(db.session, record, data, workbook)
    db.session.commit()
    if not answered:
        raise OSError(record.email_error)
    return {"report_id": record.id, "rows": len(data.jobs), "emailed_to": record.emailed_to, "email_status": record.email_status}
