"""Installations: the job's stages, the one transition table (TRANSITIONS) and move_job.

Leads are in installations_leads, the job's steps (calls, survey, report, closure) in
installations_steps, who sees a job in installations_access, notices in installations_notices.

Every stage change goes through `move_job`, which looks the move up in TRANSITIONS (who may make it,
what must be present first) and writes a JobEvent. Scheduling, materials, payouts and uploads live
in app/services/installations_*.py and call `move_job` too.
"""
from __future__ import annotations

import logging

from dataclasses import dataclass, field
from typing import Callable, Optional

from flask_appbuilder.security.sqla.models import User
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.installations import (
    InstallationJob, InstallationReport, JobCall, JobEvent, JobFile, SurveyReport, VendorPurchase,
)
from app.security import ADMIN, CENTRAL_OPS, DISPATCHER, FIELD_TEAM, FINANCE, MANAGER, PROCUREMENT
from app.services import Conflict, Forbidden, InvalidInput
from app.models.installations import BomLine
from app.models.installations import JobVisit


log = logging.getLogger(__name__)

# --- stages --------------------------------------------------------------------------
LEAD_LOGGED = "Lead logged"
INTRO_CALL_DONE = "Intro call done"
DOCUMENTS_COMPLETE = "Documents complete"
SURVEY_SCHEDULED = "Survey scheduled"
SURVEY_ASSIGNED = "Survey assigned"
SURVEY_DONE = "Survey done"
SITE_NOT_READY = "Site not ready"
SITE_READY = "Site ready"
MATERIALS_CHECKED = "Materials checked"
MATERIALS_ALLOCATED = "Materials allocated"
LOCAL_PROCUREMENT = "Local procurement"
INSTALLATION_SCHEDULED = "Installation scheduled"
INSTALLATION_ASSIGNED = "Installation assigned"
INSTALLED = "Installed"
CLOSURE_CALL_DONE = "Closure call done"
CLOSURE_PACK_SUBMITTED = "Closure pack submitted"
PAYABLE = "Payable"
PAID = "Paid"
ON_HOLD = "On hold"
CANCELLED = "Cancelled"

STAGES = [
    LEAD_LOGGED, INTRO_CALL_DONE, DOCUMENTS_COMPLETE, SURVEY_SCHEDULED, SURVEY_ASSIGNED, SURVEY_DONE,
    SITE_NOT_READY, SITE_READY, MATERIALS_CHECKED, MATERIALS_ALLOCATED, LOCAL_PROCUREMENT,
    INSTALLATION_SCHEDULED, INSTALLATION_ASSIGNED, INSTALLED, CLOSURE_CALL_DONE, CLOSURE_PACK_SUBMITTED,
    PAYABLE, PAID, ON_HOLD, CANCELLED,
]
ACTIVE_STAGES = [s for s in STAGES if s not in (PAID, CANCELLED, ON_HOLD)]
# How long a job may sit in a stage before the board shows it as overdue (hours).
STAGE_SLA_HOURS = {
    LEAD_LOGGED: 24, INTRO_CALL_DONE: 72, DOCUMENTS_COMPLETE: 48, SURVEY_DONE: 48, SITE_READY: 48,
    MATERIALS_CHECKED: 48, LOCAL_PROCUREMENT: 96, MATERIALS_ALLOCATED: 48, INSTALLED: 48,
    CLOSURE_CALL_DONE: 48, CLOSURE_PACK_SUBMITTED: 72, PAYABLE: 24 * 30,
}

CUSTOMER = "Customer"  # no login: acts through the signed upload link
OPS = (CENTRAL_OPS, DISPATCHER, MANAGER)
REQUIRED_WORK_TYPES = ("electrical load upgrade", "earthing", "civil work", "other")
CALL_PURPOSES = ("intro", "survey day", "installation day", "closure")
CALL_OUTCOMES = ("reached", "confirmed", "no answer", "call back", "declined")


# --- preconditions ---------------------------------------------------------------------
def missing_documents(session: Session, job: InstallationJob) -> list[str]:
    missing = []
    if not session.scalar(select(JobFile.id).where(JobFile.job_id == job.id, JobFile.kind == "electricity_bill")):
        missing.append("the electricity bill")
    if not job.address or job.latitude is None or job.longitude is None:
        missing.append("the location (address and map pin)")
    if not job.electrician_name or not job.electrician_phone:
        missing.append("the electrician's contact")
    return missing


def _documents_in(session, job):
    missing = missing_documents(session, job)
    return None if not missing else "the customer has not provided " + ", ".join(missing) + " yet"


def _has_call(purpose: str, outcomes=("reached", "confirmed")):
    def check(session, job):
        found = session.scalar(
            select(JobCall.id).where(JobCall.job_id == job.id, JobCall.purpose == purpose, JobCall.outcome.in_(outcomes))
        )
        return None if found else f"the {purpose} call with the customer has not been logged as {' or '.join(outcomes)}"
    return check


def _open_visit(kind: str, status: str):
    def check(session, job):
        found = session.scalar(
            select(JobVisit.id).where(JobVisit.job_id == job.id, JobVisit.kind == kind, JobVisit.status == status)
        )
        return None if found else f"there is no {status} {kind} visit"
    return check


def _survey_report_in(session, job):
    found = session.scalar(select(SurveyReport.id).where(SurveyReport.job_id == job.id))
    return None if found else "the survey report has not been submitted"


def _installation_report_in(session, job):
    found = session.scalar(select(InstallationReport.id).where(InstallationReport.job_id == job.id))
    return None if found else "the installation report has not been submitted"


def _required_work_given(session, job):
    return None if job.required_work else "the work the site needs has not been given"


def _bom_present(session, job):
    found = session.scalar(select(BomLine.id).where(BomLine.job_id == job.id))
    return None if found else "the job has no bill of materials"


def _materials_available(session, job):
    return None if job.materials_available else "the availability check found materials missing"


def _materials_short(session, job):
    return None if job.materials_available is False else "materials are available: allocate them instead"


def _vendors_paid(session, job):
    purchases = list(session.scalars(select(VendorPurchase).where(VendorPurchase.job_id == job.id)))
    if not purchases:
        return "no local purchase has been recorded"
    unpaid = [p.vendor_name for p in purchases if p.status != "paid"]
    return None if not unpaid else f"Finance has not paid the vendor(s) {', '.join(unpaid)} yet"


def _signed_off(session, job):
    return None if job.signoff_name else "the customer's sign-off has not been recorded"


def _was_held_from(stage):
    def check(session, job):
        return None if job.held_from_stage == stage else f"the job was put on hold from {job.held_from_stage}, not {stage}"
    return check


@dataclass(frozen=True)
class Rule:
    roles: tuple[str, ...]
    requires: tuple[Callable, ...] = field(default_factory=tuple)
    label: str = ""


# (from stage, to stage) -> who may make the move and what must be present first.
TRANSITIONS: dict[tuple[str, str], Rule] = {
    (LEAD_LOGGED, INTRO_CALL_DONE): Rule(OPS, (_has_call("intro"),), "Intro call done"),
    (INTRO_CALL_DONE, DOCUMENTS_COMPLETE): Rule(OPS + (CUSTOMER,), (_documents_in,), "Documents complete"),
    (DOCUMENTS_COMPLETE, SURVEY_SCHEDULED): Rule(OPS, (_documents_in,), "Schedule survey"),
    (SURVEY_SCHEDULED, SURVEY_SCHEDULED): Rule(OPS, (), "Reschedule survey"),
    (SURVEY_SCHEDULED, SURVEY_ASSIGNED): Rule(OPS, (_open_visit("survey", "assigned"),), "Assign survey"),
    (SURVEY_ASSIGNED, SURVEY_SCHEDULED): Rule(OPS + (FIELD_TEAM,), (), "Team unavailable"),
    (SURVEY_ASSIGNED, SURVEY_DONE): Rule(OPS + (FIELD_TEAM,), (_has_call("survey day"), _survey_report_in), "Survey done"),
    (SURVEY_DONE, SITE_READY): Rule(OPS, (_survey_report_in,), "Site ready"),
    (SURVEY_DONE, SITE_NOT_READY): Rule(OPS, (_survey_report_in, _required_work_given), "Site not ready"),
    (SITE_NOT_READY, SITE_READY): Rule(OPS + (CUSTOMER,), (), "Customer confirmed site ready"),
    (SITE_READY, MATERIALS_CHECKED): Rule(OPS + (PROCUREMENT,), (_bom_present,), "Materials checked"),
    (MATERIALS_CHECKED, MATERIALS_CHECKED): Rule(OPS + (PROCUREMENT,), (_bom_present,), "Materials re-checked"),
    (MATERIALS_CHECKED, MATERIALS_ALLOCATED): Rule((PROCUREMENT, MANAGER), (_materials_available,), "Allocate materials"),
    (MATERIALS_CHECKED, LOCAL_PROCUREMENT): Rule((PROCUREMENT, MANAGER), (_materials_short,), "Local procurement"),
    (MATERIALS_ALLOCATED, INSTALLATION_SCHEDULED): Rule(OPS, (), "Schedule installation"),
    (LOCAL_PROCUREMENT, INSTALLATION_SCHEDULED): Rule(OPS, (_vendors_paid,), "Schedule installation"),
    (INSTALLATION_SCHEDULED, INSTALLATION_SCHEDULED): Rule(OPS, (), "Reschedule installation"),
    (INSTALLATION_SCHEDULED, INSTALLATION_ASSIGNED): Rule(OPS, (_open_visit("installation", "assigned"),), "Assign installation"),
    (INSTALLATION_ASSIGNED, INSTALLATION_SCHEDULED): Rule(OPS + (FIELD_TEAM,), (), "Team unavailable"),
    (INSTALLATION_ASSIGNED, INSTALLED): Rule(
        OPS + (FIELD_TEAM,), (_has_call("installation day"), _installation_report_in), "Installed"
    ),
    (INSTALLED, CLOSURE_CALL_DONE): Rule(OPS, (_has_call("closure"),), "Closure call done"),
    (CLOSURE_CALL_DONE, CLOSURE_PACK_SUBMITTED): Rule(
        OPS, (_survey_report_in, _installation_report_in, _signed_off), "Submit closure pack"
    ),
    (CLOSURE_PACK_SUBMITTED, PAYABLE): Rule((CENTRAL_OPS, MANAGER), (), "Mark payable"),
    (PAYABLE, PAID): Rule((FINANCE, MANAGER), (), "Paid"),
}
for _stage in ACTIVE_STAGES:
    if _stage not in (PAYABLE,):
        TRANSITIONS[(_stage, ON_HOLD)] = Rule(OPS, (), "Put on hold")
        TRANSITIONS[(ON_HOLD, _stage)] = Rule(OPS, (_was_held_from(_stage),), "Resume")
    if STAGES.index(_stage) < STAGES.index(INSTALLED):
        TRANSITIONS[(_stage, CANCELLED)] = Rule(OPS, (), "Cancel")
TRANSITIONS[(ON_HOLD, CANCELLED)] = Rule(OPS, (), "Cancel")


# --- actors --------------------------------------------------------------------------
def role_names(user: Optional[User]) -> set[str]:
    return {r.name for r in user.roles} if user is not None else set()


def actor_label(user: Optional[User], customer: bool = False) -> str:
    if customer:
        return "customer"
    return user.username if user is not None else "system"


def allowed_moves(session: Session, job: InstallationJob, user: Optional[User]) -> list[tuple[str, str]]:
    """The (to stage, label) moves this person may offer on the job page (preconditions not yet checked)."""
    roles = role_names(user)
    return [
        (to, rule.label)
        for (frm, to), rule in TRANSITIONS.items()
        if frm == job.stage and (ADMIN in roles or roles & set(rule.roles))
    ]


def move_job(
    session: Session,
    job: InstallationJob,
    to_stage: str,
    actor: Optional[User],
    comment: Optional[str] = None,
    customer: bool = False,
) -> JobEvent:
    """The one place a job changes stage: the move must be declared, allowed for the actor, and ready."""
    if to_stage not in STAGES:
        raise InvalidInput(f"'{to_stage}' is not a stage; stages are: {', '.join(STAGES)}")
    rule = TRANSITIONS.get((job.stage, to_stage))
    if rule is None:
        nexts = [to for (frm, to) in TRANSITIONS if frm == job.stage and to != frm]
        raise Conflict(
            f"Job {job.code} is '{job.stage}' and cannot move to '{to_stage}'"
            + (f"; from here it can go to: {', '.join(nexts)}" if nexts else "")
        )
    roles = {CUSTOMER} if customer else role_names(actor)
    if ADMIN not in roles and not roles & set(rule.roles):
        raise Forbidden(
            f"Moving a job from '{job.stage}' to '{to_stage}' is for {', '.join(rule.roles)}; you are {', '.join(sorted(roles)) or 'nobody'}"
        )
    problems = [p for p in (check(session, job) for check in rule.requires) if p]
    if problems:
        raise Conflict(f"Job {job.code} cannot move from '{job.stage}' to '{to_stage}': " + "; ".join(problems))
    if to_stage == ON_HOLD:
        job.held_from_stage = job.stage
    elif job.stage == ON_HOLD:
        job.held_from_stage = None
    event = JobEvent(
        job_id=job.id, user_id=actor.id if actor is not None and not customer else None,
        actor=actor_label(actor, customer), from_stage=job.stage, to_stage=to_stage, comment=comment, at=utcnow(),
    )
    session.add(event)
    job.stage = to_stage
    job.stage_changed_at = event.at
    return event


def note_event(session: Session, job: InstallationJob, actor: Optional[User], comment: str, customer: bool = False) -> JobEvent:
    """An audited action that does not change the stage (a call, a document, a message)."""
    event = JobEvent(
        job_id=job.id, user_id=actor.id if actor is not None and not customer else None,
        actor=actor_label(actor, customer), from_stage=job.stage, to_stage=job.stage, comment=comment, at=utcnow(),
    )
    session.add(event)
    return event


# --- lists ----------------------------------------------------------------------------------------
def is_overdue(job: InstallationJob, now=None) -> bool:
    hours = STAGE_SLA_HOURS.get(job.stage)
    if hours is None:
        return False
    now = now or utcnow()
    return (now - job.stage_changed_at).total_seconds() > hours * 3600


def board_sort_key(job: InstallationJob, now=None):
    """Emergency and priority first, then overdue, then the longest waiting."""
    return (not job.emergency, not job.priority, not is_overdue(job, now), job.stage_changed_at)

