"""Installations Celery tasks: load by id, call a service, decide retries."""
from __future__ import annotations

import smtplib
from datetime import date

from celery import shared_task

from app.extensions import db


@shared_task(name="installations.remind_overdue", ignore_result=False)
def remind_overdue_task() -> int:
    """Hourly: tell Central Ops about jobs past their stage's time limit."""
    from app.services.installations import remind_overdue

    count = remind_overdue(db.session)
    db.session.commit()
    return count


@shared_task(name="installations.send_oem_report", ignore_result=False, autoretry_for=(smtplib.SMTPException, OSError),
             retry_backoff=True, max_retries=5)
def send_oem_report_task(oem_id: int, period: str, start: str) -> dict:
    """Build and e-mail one OEM report (retried when the SMTP relay is down)."""
    from app.models.installations import Oem
    from reporting.installations import oem_report

    oem = db.session.get(Oem, oem_id)
    if oem is None:
        return {"error": f"no OEM {oem_id}"}
    record, jobs = oem_report(db.session, oem, period, date.fromisoformat(start))
    db.session.commit()
    return {"report_id": record.id, "rows": len(jobs), "emailed_to": record.emailed_to}
