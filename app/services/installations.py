"""Installations: the job's stages, the one transition table, leads, calls, reviews and closure.

Every stage change goes through `move_job`, which looks the move up in TRANSITIONS (who may make it,
what must be present first) and writes a JobEvent. Scheduling, materials, payouts and uploads live
in app/services/installations_*.py and call `move_job` too.
"""
from __future__ import annotations

import logging

import json
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

from flask_appbuilder.security.sqla.models import User
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.installations import (
    InstallationJob, InstallationReport, JobCall, JobEvent, JobFile, JobMessage, Lead, Oem, OemUser,
    SurveyReport, VendorPurchase,
)
from app.security import ADMIN, CENTRAL_OPS, DISPATCHER, FIELD_TEAM, FINANCE, MANAGER, OEM, OEM_REPORTING, PROCUREMENT
from app.services import Conflict, Forbidden, InvalidInput, NotFound
from app.services import customers
from app.services.chargers import register_installed_charger
from app.services.notifications import notify_user
from app.services.people import active_users_with_roles
from app.services.phones import to_e164

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
        from app.models.installations import JobVisit

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
    from app.models.installations import BomLine

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


# --- scoping ---------------------------------------------------------------------------
def oem_of_user(session: Session, user: Optional[User]) -> Optional[Oem]:
    if user is None:
        return None
    return session.scalar(select(Oem).join(OemUser, OemUser.oem_id == Oem.id).where(OemUser.user_id == user.id))


def is_oem_user(user: Optional[User]) -> bool:
    roles = role_names(user)
    return OEM in roles and ADMIN not in roles


def visible_oem_id(session: Session, user: Optional[User]) -> Optional[int]:
    """For OEM users: the only OEM whose leads/jobs they may see (-1: none). None: no restriction."""
    if not is_oem_user(user):
        return None
    oem = oem_of_user(session, user)
    return oem.id if oem else -1


def teams_of_user(session: Session, user: Optional[User]) -> list[int]:
    from app.models.people import field_team_member

    if user is None:
        return []
    return list(session.scalars(select(field_team_member.c.field_team_id).where(field_team_member.c.user_id == user.id)))


def is_field_user(user: Optional[User]) -> bool:
    roles = role_names(user)
    return FIELD_TEAM in roles and not roles & {ADMIN, MANAGER, CENTRAL_OPS, DISPATCHER}


def job_visible_to(session: Session, job: InstallationJob, user: Optional[User]) -> bool:
    oem_id = visible_oem_id(session, user)
    if oem_id is not None:
        return job.oem_id == oem_id
    if is_field_user(user):
        from app.models.installations import JobVisit

        teams = teams_of_user(session, user)
        return bool(teams) and session.scalar(
            select(JobVisit.id).where(JobVisit.job_id == job.id, JobVisit.team_id.in_(teams))
        ) is not None
    return True


def get_job(session: Session, job_id: int, user: Optional[User] = None) -> InstallationJob:
    """The job, or NotFound, also when it belongs to another OEM or another team (never a 403 with data)."""
    job = session.get(InstallationJob, job_id)
    if job is None or (user is not None and not job_visible_to(session, job, user)):
        raise NotFound(f"No installation job {job_id}")
    return job


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
    from app.formatting import without_greeting
    from app.services import ServiceError
    from app.services.messaging import notify_customer_whatsapp

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


# --- phase 1: leads ----------------------------------------------------------------------
LEAD_FIELDS = ("oem_ref", "customer_name", "phone", "email", "address", "district", "vehicle_model", "charger_type", "notes")


def resolve_oem_for_lead(session: Session, user: Optional[User], payload: dict) -> Oem:
    """OEM users create leads for their own OEM; Central Ops (and managers) name the OEM."""
    if is_oem_user(user):
        oem = oem_of_user(session, user)
        if oem is None:
            raise Forbidden("Your login is not linked to an OEM; ask Central Ops to link it")
        return oem
    ref = payload.get("oem_id") or payload.get("oem")
    if not ref:
        raise InvalidInput("oem_id: name the OEM the lead comes from")
    oem = session.get(Oem, ref) if str(ref).isdigit() else session.scalar(
        select(Oem).where((Oem.name == str(ref)) | (Oem.code == str(ref)))
    )
    if oem is None:
        raise InvalidInput(f"oem_id: no OEM '{ref}'")
    return oem


def create_lead(session: Session, payload: dict, user: Optional[User], source: str = "api") -> tuple[Lead, bool]:
    """A lead and its job; the same oem_ref from the same OEM returns the first lead (created=False)."""
    if not isinstance(payload, dict):
        raise InvalidInput("Send a JSON object")
    oem_ref = str(payload.get("oem_ref") or "").strip()
    if not oem_ref:
        raise InvalidInput("oem_ref: the OEM's own reference for the lead is required")
    oem = resolve_oem_for_lead(session, user, payload)
    existing = session.scalar(select(Lead).where(Lead.oem_id == oem.id, Lead.oem_ref == oem_ref))
    if existing is not None:
        return existing, False
    name = str(payload.get("customer_name") or "").strip()
    if not name:
        raise InvalidInput("customer_name: required")
    phone = to_e164(str(payload.get("phone") or ""))
    values = {k: (str(payload[k]).strip() if payload.get(k) not in (None, "") else None) for k in LEAD_FIELDS[3:]}
    if values["district"]:
        values["district"] = values["district"].title()
    lead = Lead(oem_id=oem.id, oem_ref=oem_ref, source=source, customer_name=name, phone=phone,
                created_by_id=user.id if user is not None else None, **values)
    try:
        with session.begin_nested():
            session.add(lead)
            session.flush()
    except IntegrityError:
        # a concurrent request with the same oem_ref won the race: answer with its lead
        first = session.scalar(select(Lead).where(Lead.oem_id == oem.id, Lead.oem_ref == oem_ref))
        if first is None:
            raise
        return first, False
    customer = customers.find_by_phone(session, phone)
    if customer is None:
        customer = customers.create_customer(
            session, {"name": name, "phone": phone, "email": values["email"], "address": values["address"]},
            user.id if user is not None else None,
        )
    job = InstallationJob(
        lead_id=lead.id, oem_id=oem.id, customer_id=customer.id, stage=LEAD_LOGGED,
        district=values["district"], address=values["address"], stage_changed_at=utcnow(),
    )
    session.add(job)
    session.flush()
    session.add(JobEvent(job_id=job.id, user_id=user.id if user else None, actor=actor_label(user), from_stage=None,
                         to_stage=LEAD_LOGGED, comment=f"Lead {oem_ref} from {oem.name} via {source}", at=utcnow()))
    return lead, True


def lead_as_dict(lead: Lead) -> dict:
    job = lead.job
    return {
        "id": lead.id, "oem_ref": lead.oem_ref, "oem": lead.oem.name, "oem_id": lead.oem_id, "source": lead.source,
        "customer_name": lead.customer_name, "phone": lead.phone, "email": lead.email, "address": lead.address,
        "district": lead.district, "vehicle_model": lead.vehicle_model, "charger_type": lead.charger_type,
        "notes": lead.notes, "created_at": lead.created_at.isoformat(),
        "job_id": job.id if job else None, "stage": job.stage if job else None,
    }


# --- calls --------------------------------------------------------------------------------
CALL_ADVANCES = {"intro": (LEAD_LOGGED, INTRO_CALL_DONE), "closure": (INSTALLED, CLOSURE_CALL_DONE)}
CALL_ROLES = {"intro": OPS, "closure": OPS, "survey day": OPS + (FIELD_TEAM,), "installation day": OPS + (FIELD_TEAM,)}


def log_call(session: Session, job: InstallationJob, purpose: str, outcome: str, actor: User, note: str = "") -> JobCall:
    """Log a call with its outcome; a reached intro call or confirmed closure call advances the job."""
    if purpose not in CALL_PURPOSES:
        raise InvalidInput(f"purpose: one of {', '.join(CALL_PURPOSES)}")
    if outcome not in CALL_OUTCOMES:
        raise InvalidInput(f"outcome: one of {', '.join(CALL_OUTCOMES)}")
    roles = role_names(actor)
    if ADMIN not in roles and not roles & set(CALL_ROLES[purpose]):
        raise Forbidden(f"The {purpose} call is made by {', '.join(CALL_ROLES[purpose])}")
    call = JobCall(job_id=job.id, purpose=purpose, outcome=outcome, note=note or None, user_id=actor.id, at=utcnow())
    session.add(call)
    session.flush()
    advance = CALL_ADVANCES.get(purpose)
    if advance and job.stage == advance[0] and outcome in ("reached", "confirmed"):
        move_job(session, job, advance[1], actor, f"{purpose} call: {outcome}. {note}".strip())
    else:
        note_event(session, job, actor, f"{purpose} call: {outcome}. {note}".strip())
    if purpose == "intro" and outcome in ("reached", "confirmed"):
        from app.services.installations_uploads import send_upload_link

        send_upload_link(session, job, actor)
    return call


# --- customer details (also through the upload link) ------------------------------------------
def record_location(session: Session, job: InstallationJob, address: str, lat, lng, actor=None, customer=False) -> None:
    from decimal import Decimal, InvalidOperation

    address = (address or "").strip()
    if not address:
        raise InvalidInput("address: required")
    try:
        lat_d, lng_d = Decimal(str(lat).strip()), Decimal(str(lng).strip())
    except (InvalidOperation, ValueError):
        raise InvalidInput("latitude and longitude: give the map pin as decimal degrees, e.g. 6.9271, 79.8612")
    if not (-90 <= lat_d <= 90 and -180 <= lng_d <= 180):
        raise InvalidInput("latitude must be within ±90 and longitude within ±180")
    job.address, job.latitude, job.longitude = address, lat_d.quantize(Decimal("0.000001")), lng_d.quantize(Decimal("0.000001"))
    note_event(session, job, actor, f"Location: {address} ({lat_d}, {lng_d})", customer=customer)
    advance_when_documents_complete(session, job, actor, customer)


def record_electrician(session: Session, job: InstallationJob, name: str, phone: str, actor=None, customer=False) -> None:
    name = (name or "").strip()
    if not name:
        raise InvalidInput("electrician_name: required")
    job.electrician_name, job.electrician_phone = name, to_e164(phone or "")
    note_event(session, job, actor, f"Electrician: {name} {job.electrician_phone}", customer=customer)
    advance_when_documents_complete(session, job, actor, customer)


def advance_when_documents_complete(session: Session, job: InstallationJob, actor=None, customer=False) -> None:
    session.flush()
    if job.stage == INTRO_CALL_DONE and not missing_documents(session, job):
        move_job(session, job, DOCUMENTS_COMPLETE, actor, "All customer documents are in", customer=customer)
        notify_role(session, CENTRAL_OPS, "installation", f"{job.code}: documents complete",
                    "The customer's documents are in; the survey can be scheduled.", job)


# --- phases 3-4: survey report and review ----------------------------------------------------------
SURVEY_CHECKLIST = (
    "main_supply_phase", "sanctioned_load_kw", "earthing_present", "cable_run_m", "mounting_surface",
    "parking_covered", "network_signal", "notes_for_installers",
)


def submit_survey_report(session: Session, job: InstallationJob, checklist: dict, actor: User, notes: str = "") -> SurveyReport:
    from app.services.installations_scheduling import current_visit

    if job.stage != SURVEY_ASSIGNED:
        raise Conflict(f"Job {job.code} is '{job.stage}': a survey report is submitted for an assigned survey")
    if not isinstance(checklist, dict) or not any(str(v).strip() for v in checklist.values()):
        raise InvalidInput("checklist: answer the site facts (supply phase, load, earthing, cable run, ...)")
    visit = current_visit(session, job, "survey")
    report = session.scalar(select(SurveyReport).where(SurveyReport.job_id == job.id))
    if report is None:
        report = SurveyReport(job_id=job.id)
        session.add(report)
    report.checklist = json.dumps({k: checklist[k] for k in checklist}, default=str)
    report.notes = notes or None
    report.team_id = visit.team_id if visit else None
    report.submitted_by_id = actor.id
    report.submitted_at = utcnow()
    session.flush()
    move_job(session, job, SURVEY_DONE, actor, "Survey report submitted")
    if visit is not None:
        visit.status = "done"
    job.priority = False  # the priority slot has been used
    notify_role(session, CENTRAL_OPS, "installation", f"{job.code}: survey report in", "Review the survey report.", job)
    return report


def review_survey(
    session: Session, job: InstallationJob, site_ready: bool, actor: User,
    required_work: Iterable[str] = (), note: str = "",
) -> None:
    """Central Ops' review: ready -> tell the customer; not ready -> tell them the work needed and wait."""
    if site_ready:
        job.site_ready, job.required_work, job.required_work_note = True, None, None
        move_job(session, job, SITE_READY, actor, note or "Survey reviewed: site ready")
        notify_customer(session, job, "site_ready")
        return
    work = [w.strip().lower() for w in required_work if w and w.strip()]
    unknown = [w for w in work if w not in REQUIRED_WORK_TYPES]
    if unknown or not work:
        raise InvalidInput(f"required_work: choose from {', '.join(REQUIRED_WORK_TYPES)}")
    if "other" in work and not note.strip():
        raise InvalidInput("note: describe the 'other' work the site needs")
    job.site_ready, job.required_work, job.required_work_note = False, ", ".join(work), note or None
    move_job(session, job, SITE_NOT_READY, actor, f"Site not ready: {', '.join(work)}. {note}".strip())
    notify_customer(session, job, "site_not_ready", work=", ".join(work), note=note)


def confirm_site_ready(session: Session, job: InstallationJob, actor: Optional[User] = None, customer: bool = False, note: str = "") -> None:
    """The customer says the required work is done (themselves on the link page, or through Central Ops)."""
    job.site_ready = True
    move_job(session, job, SITE_READY, actor, note or "Customer confirmed the site is ready", customer=customer)
    notify_customer(session, job, "site_ready")
    if customer:
        notify_role(session, CENTRAL_OPS, "installation", f"{job.code}: customer says the site is ready", note or "", job)


# --- phase 6: installation report --------------------------------------------------------------------
# Called with (session, job) after a charger is installed; the Chargers module registers here.
def installed_charger_details(job: InstallationJob) -> dict:
    """What the Chargers module needs to create the charger record for monitoring."""
    return {
        "serial": job.charger_serial, "ocpp_identity": job.ocpp_identity, "job_id": job.id, "job_code": job.code,
        "customer_id": job.customer_id, "address": job.address,
        "latitude": float(job.latitude) if job.latitude is not None else None,
        "longitude": float(job.longitude) if job.longitude is not None else None,
        "charger_type": job.lead.charger_type, "oem": job.oem.name,
    }


def submit_installation_report(
    session: Session, job: InstallationJob, charger_serial: str, ocpp_identity: str, demo_given: bool, actor: User, notes: str = ""
) -> InstallationReport:
    from app.services.installations_scheduling import current_visit

    if job.stage != INSTALLATION_ASSIGNED:
        raise Conflict(f"Job {job.code} is '{job.stage}': an installation report is submitted for an assigned installation")
    serial, identity = (charger_serial or "").strip(), (ocpp_identity or "").strip()
    if not serial or not identity:
        raise InvalidInput("charger_serial and ocpp_identity: both are required")
    if not demo_given:
        raise InvalidInput("demo_given: give the customer the charger demo before closing the installation")
    clash = session.scalar(select(InstallationJob.id).where(
        (InstallationJob.charger_serial == serial) | (InstallationJob.ocpp_identity == identity), InstallationJob.id != job.id
    ))
    if clash:
        raise Conflict(f"Charger serial or OCPP identity already recorded on job INS-{clash:05d}")
    visit = current_visit(session, job, "installation")
    report = InstallationReport(job_id=job.id, team_id=visit.team_id if visit else None, charger_serial=serial,
                                ocpp_identity=identity, demo_given=True, notes=notes or None,
                                submitted_by_id=actor.id, submitted_at=utcnow())
    session.add(report)
    job.charger_serial, job.ocpp_identity = serial, identity
    session.flush()
    move_job(session, job, INSTALLED, actor, f"Installed charger {serial} ({identity}); demo given")
    if visit is not None:
        visit.status = "done"
    job.priority = False
    register_installed_charger(session, **installed_charger_details(job))
    return report


# --- phase 7: closure ---------------------------------------------------------------------------
def record_signoff(session: Session, job: InstallationJob, signed_by: str, actor: User) -> None:
    if job.stage not in (INSTALLED, CLOSURE_CALL_DONE):
        raise Conflict(f"Job {job.code} is '{job.stage}': the customer signs off after installation")
    if not (signed_by or "").strip():
        raise InvalidInput("signed_by: the name of the person who signed off")
    job.signoff_name, job.signoff_at = signed_by.strip(), utcnow()
    note_event(session, job, actor, f"Customer sign-off by {job.signoff_name}")


def submit_closure_pack(session: Session, job: InstallationJob, actor: User) -> None:
    move_job(session, job, CLOSURE_PACK_SUBMITTED, actor, "Closure pack submitted to OEM Reporting")
    job.closure_submitted_at = utcnow()
    notify_customer(session, job, "closure")
    notify_role(session, OEM_REPORTING, "installation", f"{job.code}: closure pack submitted",
                "Survey report, installation report, media and sign-off are ready.", job)


def mark_payable(session: Session, job: InstallationJob, actor: User) -> None:
    move_job(session, job, PAYABLE, actor, "Marked payable")
    job.payable_at = utcnow()
    notify_role(session, FINANCE, "installation", f"{job.code}: payable", "The field team can be paid for this job.", job)


def put_on_hold(session, job, actor, reason: str) -> None:
    if not (reason or "").strip():
        raise InvalidInput("comment: say why the job is on hold")
    move_job(session, job, ON_HOLD, actor, reason)


def resume(session, job, actor, comment: str = "") -> None:
    if job.stage != ON_HOLD:
        raise Conflict(f"Job {job.code} is '{job.stage}', not on hold")
    move_job(session, job, job.held_from_stage, actor, comment or "Resumed")


def cancel_job(session, job, actor, reason: str) -> None:
    from app.services.installations_scheduling import release_open_bookings

    if not (reason or "").strip():
        raise InvalidInput("comment: say why the job is cancelled")
    move_job(session, job, CANCELLED, actor, reason)
    release_open_bookings(session, job)


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
