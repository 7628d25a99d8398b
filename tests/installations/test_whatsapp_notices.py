"""Installations tell the customer on WhatsApp through the Messaging module's one send service."""
from __future__ import annotations

from sqlalchemy import select

from app.models.installations import JobMessage
from app.models.messaging import Message


def _notices(session, job_id):
    session.expire_all()
    return session.scalars(select(JobMessage).where(JobMessage.job_id == job_id).order_by(JobMessage.id)).all()


def test_a_survey_booking_is_sent_to_the_customer_on_whatsapp_with_the_approved_template(flow, session):
    from app.demo.messaging import seed_templates

    seed_templates(session)
    session.commit()
    job_id = flow.lead()
    flow.documents(job_id)
    flow.survey(job_id)

    notice = next(n for n in _notices(session, job_id) if n.template == "survey_confirmed")
    sent = session.scalar(select(Message).where(Message.idempotency_key == f"job-message-{notice.id}"))
    assert notice.status == "queued"
    assert sent.to_addr == "+94771234567" and sent.channel == "whatsapp" and sent.direction == "outbound"
    assert sent.template.code == "installation_update"  # the customer has not written: outside the 24-hour window
    assert "survey is booked" in sent.body and sent.ref_type == "installation_job" and sent.ref_id == job_id


def test_without_an_approved_template_the_job_still_moves_and_the_notice_is_marked_unsent(flow, session):
    job_id = flow.lead()
    flow.documents(job_id)
    flow.survey(job_id)

    notice = next(n for n in _notices(session, job_id) if n.template == "survey_confirmed")
    assert notice.status == "unsent"
    assert session.scalar(select(Message).where(Message.ref_type == "installation_job")) is None
