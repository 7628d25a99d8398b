"""The steps of an installation job after the lead: calls, location and electrician, survey,
site readiness, installation report, sign-off, closure pack, payable, hold/resume/cancel.

Services flush; the caller commits.
"""
from __future__ import annotations


import json
from typing import Iterable, Optional

from flask_appbuilder.security.sqla.models import User
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.installations import (
    InstallationJob, InstallationReport, JobCall, SurveyReport,
)
from app.security import ADMIN, CENTRAL_OPS, FIELD_TEAM, FINANCE, OEM_REPORTING
from app.services import Conflict, Forbidden, InvalidInput
from app.services.chargers_registry import register_installed_charger
from app.services.phones import to_e164
from app.services.installations import CALL_OUTCOMES, CALL_PURPOSES, CANCELLED, CLOSURE_CALL_DONE, CLOSURE_PACK_SUBMITTED, DOCUMENTS_COMPLETE, INSTALLATION_ASSIGNED, INSTALLED, INTRO_CALL_DONE, LEAD_LOGGED, ON_HOLD, OPS, PAYABLE, REQUIRED_WORK_TYPES, SITE_NOT_READY, SITE_READY, SURVEY_ASSIGNED, SURVEY_DONE, missing_documents, move_job, note_event, role_names
from app.services.installations_notices import notify_customer, notify_role
from app.services.installations_uploads import (
    CUSTOMER_KINDS, check_file, job_for_token, send_upload_link, store_file,
)
from decimal import Decimal, InvalidOperation
from app.services.installations_scheduling import current_visit
from app.services.installations_scheduling import release_open_bookings




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
        send_upload_link(session, job, actor)
    return call


# --- customer details (also through the upload link) ------------------------------------------
def record_location(session: Session, job: InstallationJob, address: str, lat, lng, actor=None, customer=False) -> None:
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
    if not (reason or "").strip():
        raise InvalidInput("comment: say why the job is cancelled")
    move_job(session, job, CANCELLED, actor, reason)
    release_open_bookings(session, job)


def customer_upload(session: Session, token: str, form: dict, files: dict) -> list[str]:
    """What the customer submits on the link page: bill, location, electrician, or 'site is ready'."""
    job = job_for_token(session, token)
    uploads = [(kind, files[kind]) for kind in CUSTOMER_KINDS if files.get(kind) is not None]
    for kind, (_name, data) in uploads:
        check_file(kind, data)  # refuse before anything is written
    done = []
    if (form.get("address") or "").strip() or (form.get("latitude") or "").strip():
        record_location(session, job, form.get("address", ""), form.get("latitude", ""), form.get("longitude", ""), customer=True)
        done.append("location")
    if (form.get("electrician_name") or "").strip() or (form.get("electrician_phone") or "").strip():
        record_electrician(session, job, form.get("electrician_name", ""), form.get("electrician_phone", ""), customer=True)
        done.append("electrician contact")
    if form.get("site_ready") and job.stage == SITE_NOT_READY:
        confirm_site_ready(session, job, None, customer=True, note=form.get("site_ready_note", ""))
        done.append("site ready")
    for kind, (name, data) in uploads:
        record = store_file(session, job, kind, name, data)
        note_event(session, job, None, f"Customer uploaded {kind.replace('_', ' ')} ({record.original_name})", customer=True)
        done.append(kind.replace("_", " "))
    if not done:
        raise InvalidInput("Nothing to save: choose a file or fill in the details")
    advance_when_documents_complete(session, job, None, customer=True)
    return done
