"""Phase 1 of an installation: leads from OEMs (idempotent on `oem_ref`), each opening a job.

Services flush; the caller commits.
"""
from __future__ import annotations


from typing import Optional

from flask_appbuilder.security.sqla.models import User
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.installations import (
    InstallationJob, JobEvent, Lead, Oem,
)
from app.services import Forbidden, InvalidInput, iso_utc
from app.services import customers
from app.services.phones import to_e164
from app.services.installations import LEAD_LOGGED, actor_label
from app.services.installations_access import is_oem_user, oem_of_user




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
        "notes": lead.notes, "created_at": iso_utc(lead.created_at),
        "job_id": job.id if job else None, "stage": job.stage if job else None,
    }

