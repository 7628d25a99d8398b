"""Installations: every action on a job by name, so the job page's forms and the REST API call the
same service functions with the same parsing of their input."""
from __future__ import annotations

from typing import Any, Optional

from flask_appbuilder.security.sqla.models import User
from sqlalchemy.orm import Session

from app.models.installations import InstallationJob
from app.services import Forbidden, InvalidInput
from app.services import installations_access, installations_steps
from app.services import installations
from app.services import installations_materials as materials
from app.services import installations_scheduling as scheduling
from app.services import installations_uploads as uploads

FileMap = dict[str, list[tuple[str, bytes]]]  # kind -> [(filename, data)]


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on", "y")


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [v.strip() for v in str(value).split(",") if v.strip()]


def _int(value: Any, field: str) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise InvalidInput(f"{field}: a number is required")


def _store_all(session, job, files: FileMap, kinds, actor) -> list:
    stored = []
    for kind in kinds:
        for name, data in files.get(kind, []):
            uploads.check_file(kind, data)
    for kind in kinds:
        for name, data in files.get(kind, []):
            stored.append(uploads.store_file(session, job, kind, name, data, actor))
    return stored


def _field_team_guard(session, job, actor, kind):
    """A field team member acts only on visits of a team they belong to."""
    if installations_access.is_field_user(actor):
        visit = scheduling.current_visit(session, job, kind)
        if visit is None or visit.team_id not in installations_access.teams_of_user(session, actor):
            raise Forbidden(f"Only the team assigned to this {kind} can do that")


def run_job_action(session: Session, job: InstallationJob, action: str, data: dict, files: Optional[FileMap], actor: User) -> str:
    """Run one named action; returns a sentence for the flash message / API response."""
    files = files or {}
    data = data or {}
    if not isinstance(data, dict):
        raise InvalidInput("Send the action's fields as a JSON object")
    roles = ACTION_ROLES.get(action)
    have = installations.role_names(actor)
    if roles and installations.ADMIN not in have and not have & set(roles):
        raise Forbidden(f"'{action.replace('_', ' ')}' is for {', '.join(roles)}")
    kind = data.get("kind") or scheduling.visit_kind(job)
    if action == "transition":
        to = data.get("to") or ""
        comment = (data.get("comment") or "").strip()
        if to == installations.ON_HOLD:
            installations_steps.put_on_hold(session, job, actor, comment)
        elif job.stage == installations.ON_HOLD and to == job.held_from_stage:
            installations_steps.resume(session, job, actor, comment)
        elif to == installations.CANCELLED:
            installations_steps.cancel_job(session, job, actor, comment)
        elif to == installations.SITE_NOT_READY:
            installations_steps.review_survey(session, job, False, actor, _list(data.get("required_work")), comment)
        elif to == installations.SITE_READY and job.stage == installations.SURVEY_DONE:
            installations_steps.review_survey(session, job, True, actor, note=comment)
        elif to == installations.SITE_READY and job.stage == installations.SITE_NOT_READY:
            installations_steps.confirm_site_ready(session, job, actor, note=comment)
        elif to == installations.CLOSURE_PACK_SUBMITTED:
            installations_steps.submit_closure_pack(session, job, actor)
        elif to == installations.PAYABLE:
            installations_steps.mark_payable(session, job, actor)
        else:
            installations.move_job(session, job, to, actor, comment or None)
        return f"{job.code} is now '{job.stage}'"
    if action == "call":
        installations_steps.log_call(session, job, data.get("purpose", ""), data.get("outcome", ""), actor, data.get("note", ""))
        return f"{data.get('purpose')} call logged"
    if action == "send_upload_link":
        installations.note_event(session, job, actor, "Upload link sent to the customer")
        uploads.send_upload_link(session, job, actor)
        return "Upload link sent to the customer"
    if action == "customer_details":
        done = []
        stored = _store_all(session, job, files, ("electricity_bill",), actor)
        if stored:
            installations.note_event(session, job, actor, "Electricity bill uploaded by Central Ops")
            done.append("electricity bill")
        if (data.get("address") or "").strip():
            installations_steps.record_location(session, job, data.get("address"), data.get("latitude"), data.get("longitude"), actor)
            done.append("location")
        if (data.get("electrician_name") or "").strip():
            installations_steps.record_electrician(session, job, data.get("electrician_name"), data.get("electrician_phone"), actor)
            done.append("electrician")
        if not done:
            raise InvalidInput("Nothing to save: give the bill, the location or the electrician")
        installations_steps.advance_when_documents_complete(session, job, actor)
        return "Saved: " + ", ".join(done)
    if action == "schedule":
        visit = scheduling.schedule_visit(session, job, kind, data.get("date"), data.get("slot"), actor)
        return f"{kind.title()} scheduled for {visit.visit_date} ({visit.slot})"
    if action in ("assign", "backup"):
        visit = scheduling.assign_team(session, job, kind, data.get("team_id"), actor, emergency=action == "backup")
        return f"{visit.code} assigned to {visit.team.name}"
    if action == "team_unavailable":
        _field_team_guard(session, job, actor, kind)
        proposals = scheduling.report_team_unavailable(session, job, kind, actor, data.get("reason", ""))
        return "Team reported unavailable; " + (
            f"backup teams: {', '.join(p['name'] for p in proposals)}" if proposals else "no backup team is free: priority reschedule"
        )
    if action == "priority_reschedule":
        visit = scheduling.priority_reschedule(session, job, kind, actor, data.get("date") or None, data.get("slot") or None)
        return f"Priority reschedule to {visit.visit_date} ({visit.slot})"
    if action == "survey_report":
        _field_team_guard(session, job, actor, "survey")
        checklist = data.get("checklist")
        if not isinstance(checklist, dict):
            checklist = {k: data.get(k) for k in installations_steps.SURVEY_CHECKLIST if data.get(k) not in (None, "")}
        _store_all(session, job, files, ("survey_photo", "survey_video"), actor)
        installations_steps.submit_survey_report(session, job, checklist, actor, data.get("notes", ""))
        return "Survey report submitted"
    if action == "review":
        ready = _flag(data.get("site_ready"))
        installations_steps.review_survey(session, job, ready, actor, _list(data.get("required_work")), data.get("note", "") or "")
        return "Site ready: customer told" if ready else "Site not ready: customer told the work needed"
    if action == "site_ready":
        installations_steps.confirm_site_ready(session, job, actor, note=data.get("note", "") or "Customer confirmed by phone")
        return "Site confirmed ready"
    if action == "bom":
        lines = data.get("lines")
        if not isinstance(lines, dict):
            lines = {}
            for entry in _list(lines or data.get("bom")):
                sku, _, qty = entry.partition(":")
                lines[sku.strip()] = qty.strip() or "1"
        materials.set_bill_of_materials(session, job, lines, actor)
        return "Bill of materials saved"
    if action == "request_check":
        materials.request_material_check(session, job, actor)
        return "Material check requested from Procurement"
    if action == "check_materials":
        result = materials.check_materials(session, job, _int(data.get("location_id"), "location_id"), actor)
        short = [f"{r['short']} x {r['sku']}" for r in result if r["short"]]
        return "Materials available" if not short else "Short: " + ", ".join(short)
    if action == "allocate":
        materials.allocate_materials(session, job, data.get("team_id"), actor)
        return "Materials allocated"
    if action == "local_procurement":
        materials.start_local_procurement(session, job, actor, data.get("note", ""))
        return "Local procurement started"
    if action == "vendor_purchase":
        qr = _store_all(session, job, files, ("vendor_qr",), actor)
        purchase = materials.record_vendor_purchase(
            session, job, actor, data.get("vendor_name", ""), data.get("items", ""), data.get("amount"),
            _int(data["team_id"], "team_id") if data.get("team_id") else None, data.get("upi_id", ""), data.get("bank_details", ""), qr[0] if qr else None,
        )
        return f"Purchase from {purchase.vendor_name} recorded for Finance"
    if action == "pay_vendor":
        proof = _store_all(session, job, files, ("payment_proof",), actor)
        payment = materials.pay_vendor(session, _int(data.get("purchase_id"), "purchase_id"), data.get("reference", ""), actor, proof[0] if proof else None)
        return f"Vendor paid (ref {payment.reference})"
    if action == "installation_report":
        _field_team_guard(session, job, actor, "installation")
        _store_all(session, job, files, ("installation_photo", "installation_video"), actor)
        installations_steps.submit_installation_report(session, job, data.get("charger_serial", ""), data.get("ocpp_identity", ""),
                                       _flag(data.get("demo_given")), actor, data.get("notes", ""))
        return "Installation report submitted"
    if action == "signoff":
        _store_all(session, job, files, ("signoff",), actor)
        installations_steps.record_signoff(session, job, data.get("signed_by", ""), actor)
        return "Customer sign-off recorded"
    if action == "closure_pack":
        installations_steps.submit_closure_pack(session, job, actor)
        return "Closure pack submitted to OEM Reporting"
    if action == "payable":
        installations_steps.mark_payable(session, job, actor)
        return "Marked payable"
    if action == "upload":
        media_kind = data.get("file_kind") or ""
        stored = _store_all(session, job, files, (media_kind,), actor) if media_kind in uploads.KIND_TYPES else []
        if not stored:
            raise InvalidInput(f"file_kind: one of {', '.join(uploads.KIND_TYPES)}, with a file")
        installations.note_event(session, job, actor, f"Uploaded {len(stored)} {media_kind.replace('_', ' ')} file(s)")
        return "Uploaded"
    raise InvalidInput(f"Unknown action '{action}'")


# Actions that change no stage are gated here; stage changes are gated by the transition table.
ACTION_ROLES = {
    "send_upload_link": installations.OPS, "customer_details": installations.OPS, "signoff": installations.OPS + (installations.FIELD_TEAM,),
    "upload": installations.OPS + (installations.FIELD_TEAM, installations.PROCUREMENT, installations.FINANCE),
}

_STAFF = installations.OPS + (installations.FIELD_TEAM, installations.PROCUREMENT, installations.FINANCE)
# Who the job page offers each form to (the service still decides; this only keeps the page tidy).
ACTION_OFFERED_TO = {
    "transition": installations.OPS, "call": installations.OPS + (installations.FIELD_TEAM,), "send_upload_link": installations.OPS, "customer_details": installations.OPS,
    "schedule": installations.OPS, "assign": installations.OPS, "backup": installations.OPS, "priority_reschedule": installations.OPS,
    "team_unavailable": installations.OPS + (installations.FIELD_TEAM,), "survey_report": installations.OPS + (installations.FIELD_TEAM,), "review": installations.OPS,
    "site_ready": installations.OPS, "bom": installations.OPS + (installations.PROCUREMENT,), "request_check": installations.OPS,
    "check_materials": installations.OPS + (installations.PROCUREMENT,), "allocate": (installations.PROCUREMENT, installations.MANAGER),
    "local_procurement": (installations.PROCUREMENT, installations.MANAGER), "vendor_purchase": (installations.FIELD_TEAM, installations.PROCUREMENT) + installations.OPS,
    "pay_vendor": (installations.FINANCE, installations.MANAGER), "installation_report": installations.OPS + (installations.FIELD_TEAM,),
    "signoff": installations.OPS + (installations.FIELD_TEAM,), "closure_pack": installations.OPS, "payable": (installations.CENTRAL_OPS, installations.MANAGER), "upload": _STAFF,
}


def offered_actions(actor: User) -> set[str]:
    roles = installations.role_names(actor)
    if installations.ADMIN in roles:
        return set(ACTION_OFFERED_TO)
    return {action for action, allowed in ACTION_OFFERED_TO.items() if roles & set(allowed)}


ACTIONS = (
    "transition", "call", "send_upload_link", "customer_details", "schedule", "assign", "backup", "team_unavailable",
    "priority_reschedule", "survey_report", "review", "site_ready", "bom", "request_check", "check_materials", "allocate",
    "local_procurement", "vendor_purchase", "pay_vendor", "installation_report", "signoff", "closure_pack", "payable", "upload",
)
