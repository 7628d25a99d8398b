"""Demo data covers every stage (idempotently); the Celery tasks run on a real worker."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select


def test_demo_seed_covers_every_stage_is_idempotent_and_works_on_the_board(session, web_as):
    from app.demo.installations import seed
    from app.models.installations import InstallationJob, JobEvent, Payout, PayoutItem, VendorPayment
    from app.services import installations

    seed(session)
    stages = dict(session.execute(select(InstallationJob.stage, func.count()).group_by(InstallationJob.stage)).all())
    assert set(stages) == set(installations.STAGES)
    assert sum(stages.values()) == 300
    assert session.scalar(select(func.count()).where(InstallationJob.emergency.is_(True))) > 0
    assert session.scalar(select(func.count()).select_from(VendorPayment)) > 0
    assert session.scalar(select(func.count()).select_from(Payout)) > 0
    events = session.scalar(select(func.count()).select_from(JobEvent))
    items = session.scalar(select(func.count()).select_from(PayoutItem))
    seed(session)
    assert session.scalar(select(func.count()).select_from(InstallationJob)) == 300
    assert session.scalar(select(func.count()).select_from(JobEvent)) == events
    assert session.scalar(select(func.count()).select_from(PayoutItem)) == items
    html = web_as("dispatcher").get("/installations/board").get_data(as_text=True)
    assert "emergency" in html and "Assign" in html and "Schedule survey" in html


def test_overdue_reminder_task_runs_on_the_worker(celery_worker, flow, session):
    from app.models.installations import InstallationJob
    from app.models.messaging import Notification
    from app.tasks.installations import remind_overdue_task

    job_id = flow.lead("TM-950")
    stale = session.get(InstallationJob, job_id)
    stale.stage_changed_at -= timedelta(days=3)
    session.commit()
    assert remind_overdue_task.delay().get(timeout=30) == 1
    session.expire_all()
    note = session.scalar(select(Notification).where(Notification.kind == "installation_overdue"))
    assert note.user.username == "centralops" and "Lead logged: 1" in note.body
