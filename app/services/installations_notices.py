"""Installation notices: WhatsApp messages to the customer (through Messaging), in-app notices to a
role, reminders for jobs past their stage's SLA.

Services flush; the caller commits.
"""
from __future__ import annotations

import logging


from flask_appbuilder.security.sqla.models import User
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models.installations import (
    InstallationJob, JobMessage,
)
from app.security import CENTRAL_OPS
from app.services import InvalidInput
from app.services.notifications import notify_user
from app.services.people import active_users_with_roles
from app.services.installations import STAGE_SLA_HOURS, is_overdue
from app.services import ServiceError
from app.services.messaging_outbound import notify_customer_whatsapp
from app.formatting import without_greeting


log = logging.getLogger(__name__)




# --- customer messages ------------------------------------------------------------------
MESSAGE_TEMPLATES = {
    "upload_link": "Hello {name}, to prepare your EV charger installation please share your electricity bill, "
    "location and electrician's contact here: {link} (valid {hours} hours).",
    "survey_confirmed": "Hello {name}, your site survey is booked for {date} ({slot}). Survey ID {code}.",
    "visit_delayed": "Hello {name}, we are sorry: the team for your {kind} on {date} ({slot}) is unavailable. "
    "We are arranging another team and will confirm shortly.",
    "visit_rescheduled": "Hello {name}, your {kind} is now on {date} ({slot}); you have priority. Sorry for the delay.",
    "site_ready": "Hello {name}, good news: your site is ready for installation. We will confirm the date soon.",
    "site_not_ready": "Hello {name}, before installation your site needs: {work}. {note} Please tell us when it is done.",
    "pre_installation": "Hello {name}, your charger installation is on {date} ({slot}), team {team}. Reference {code}.",
    "closure": "Hello {name}, thank you: your charger installation is complete.",
}


def notify_customer(session: Session, job: InstallationJob, template: str, **vars) -> JobMessage:
    """Queue a message to the customer (the Messaging module delivers it on WhatsApp)."""
    if template not in MESSAGE_TEMPLATES:
        raise InvalidInput(f"No customer message template '{template}'")
    values = {"name": job.lead.customer_name, "code": job.code, **vars}
    body = MESSAGE_TEMPLATES[template].format_map({k: ("" if v is None else v) for k, v in values.items()})
    message = JobMessage(job_id=job.id, channel="whatsapp", to_phone=job.lead.phone, template=template, body=body)
    session.add(message)
    session.flush()
    _deliver_on_whatsapp(session, job, message)
    return message


def _deliver_on_whatsapp(session: Session, job: InstallationJob, message: JobMessage) -> None:
    """Hand the notice to Messaging (free text inside the 24-hour window, else the approved
    "installation_update" template). The job's workflow never waits on WhatsApp: a refusal
    (no approved template, no valid number) leaves the notice recorded as unsent."""
    try:
        notify_customer_whatsapp(
            session, job.customer_id, idempotency_key=f"job-message-{message.id}", body=message.body,
            template="installation_update", variables={"name": job.lead.customer_name, "update": without_greeting(message.body)},
            ref_type="installation_job", ref_id=job.id,
        )
    except ServiceError as exc:
        message.status = "unsent"
        log.warning("job %s: %s not sent on WhatsApp: %s", job.code, message.template, exc.message)


def users_with_role(session: Session, role_name: str) -> list[User]:
    return active_users_with_roles(session, [role_name])


def notify_role(session: Session, role_name: str, kind: str, title: str, body: str, job: InstallationJob) -> int:
    users = users_with_role(session, role_name)
    for user in users:
        notify_user(session, user.id, kind, title, body, link=f"/installations/job/{job.id}", ref_type="installation_job", ref_id=job.id)
    return len(users)


def remind_overdue(session: Session) -> int:
    """Tell Central Ops how many jobs sit past their stage's time limit (run hourly by beat)."""
    jobs = list(session.scalars(select(InstallationJob).where(InstallationJob.stage.in_(list(STAGE_SLA_HOURS)))))
    overdue = [j for j in jobs if is_overdue(j)]
    if not overdue:
        return 0
    by_stage: dict[str, int] = {}
    for j in overdue:
        by_stage[j.stage] = by_stage.get(j.stage, 0) + 1
    body = ", ".join(f"{stage}: {n}" for stage, n in sorted(by_stage.items()))
    for user in users_with_role(session, CENTRAL_OPS):
        notify_user(session, user.id, "installation_overdue", f"{len(overdue)} installation jobs are overdue", body,
                    link="/installations/board")
    return len(overdue)

