"""Installations, phase 5: bill of materials, stock (never negative), allocation to the field team,
local procurement and Finance's direct vendor payments."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Optional

from flask_appbuilder.security.sqla.models import User
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.installations import (
    BomLine, InstallationJob, Material, StockLevel, StockLocation, StockMove, VendorPayment, VendorPurchase,
)
from app.models.people import FieldTeam
from app.security import ADMIN, CENTRAL_OPS, FIELD_TEAM, FINANCE, MANAGER, PROCUREMENT
from app.services import Conflict, Forbidden, InvalidInput, NotFound
from app.services.installations import LOCAL_PROCUREMENT, MATERIALS_ALLOCATED, MATERIALS_CHECKED, SITE_READY, move_job, note_event, role_names
from app.services.installations_notices import notify_role

# A home AC installation's usual bill of materials (sku -> quantity) when Central Ops gives none.
DEFAULT_BOM = {"CHG-AC7": 1, "CBL-6MM": 15, "MNT-WALL": 1, "MCB-32A": 1}


def _require_roles(actor: Optional[User], roles: tuple, what: str) -> None:
    have = role_names(actor)
    if ADMIN not in have and not have & set(roles):
        raise Forbidden(f"{what} is for {', '.join(roles)}")


def _quantity(value, field="quantity") -> int:
    try:
        qty = int(str(value).strip())
    except (TypeError, ValueError):
        raise InvalidInput(f"{field}: a whole number")
    if qty <= 0:
        raise InvalidInput(f"{field}: must be more than zero")
    return qty


def _money(value, field="amount") -> Decimal:
    try:
        amount = Decimal(str(value).strip()).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        raise InvalidInput(f"{field}: an amount like 12500.00")
    if amount <= 0:
        raise InvalidInput(f"{field}: must be more than zero")
    return amount


def receive_stock(session: Session, material_id: int, location_id: int, quantity, actor: User, reason: str = "Goods received") -> StockMove:
    _require_roles(actor, (PROCUREMENT, MANAGER), "Receiving stock")
    qty = _quantity(quantity)
    if session.get(Material, material_id) is None or session.get(StockLocation, location_id) is None:
        raise InvalidInput("material and location: both must exist")
    level = session.scalar(select(StockLevel).where(StockLevel.material_id == material_id, StockLevel.location_id == location_id))
    if level is None:
        try:
            with session.begin_nested():
                session.add(StockLevel(material_id=material_id, location_id=location_id, quantity=0))
                session.flush()
        except IntegrityError:
            pass  # created concurrently: the UPDATE below adds to it
    session.execute(update(StockLevel).where(StockLevel.material_id == material_id, StockLevel.location_id == location_id)
                    .values(quantity=StockLevel.quantity + qty))
    move = StockMove(material_id=material_id, location_id=location_id, quantity=qty, reason=reason, user_id=actor.id, at=utcnow())
    session.add(move)
    return move


def set_bill_of_materials(session: Session, job: InstallationJob, lines: dict, actor: User) -> list[BomLine]:
    """Replace the job's BOM (sku or material id -> quantity) before materials are allocated."""
    _require_roles(actor, (CENTRAL_OPS, PROCUREMENT, MANAGER), "Setting the bill of materials")
    if job.stage not in (SITE_READY, MATERIALS_CHECKED):
        raise Conflict(f"Job {job.code} is '{job.stage}': the bill of materials is set once the site is ready")
    if not lines:
        raise InvalidInput("lines: at least one material")
    resolved = []
    for key, qty in lines.items():
        material = session.get(Material, int(key)) if str(key).isdigit() else session.scalar(select(Material).where(Material.sku == str(key)))
        if material is None:
            raise InvalidInput(f"No material '{key}' in the catalogue")
        resolved.append((material, _quantity(qty)))
    for line in list(session.scalars(select(BomLine).where(BomLine.job_id == job.id))):
        session.delete(line)
    session.flush()
    bom = [BomLine(job_id=job.id, material_id=m.id, quantity=q) for m, q in resolved]
    session.add_all(bom)
    note_event(session, job, actor, "Bill of materials: " + ", ".join(f"{q} x {m.sku}" for m, q in resolved))
    return bom


def bom_of(session: Session, job: InstallationJob) -> list[BomLine]:
    return list(session.scalars(select(BomLine).where(BomLine.job_id == job.id).order_by(BomLine.id)))


def availability(session: Session, job: InstallationJob, location_id: int) -> list[dict]:
    lines = bom_of(session, job)
    stock = dict(session.execute(select(StockLevel.material_id, StockLevel.quantity).where(
        StockLevel.location_id == location_id, StockLevel.material_id.in_([l.material_id for l in lines]))).all())
    return [{"sku": l.material.sku, "name": l.material.name, "needed": l.quantity, "on_hand": stock.get(l.material_id, 0),
             "short": max(0, l.quantity - stock.get(l.material_id, 0))} for l in lines]


def request_material_check(session: Session, job: InstallationJob, actor: User) -> None:
    """Central Ops asks Procurement to check the job's materials (default BOM if none)."""
    _require_roles(actor, (CENTRAL_OPS, MANAGER, PROCUREMENT), "Requesting a material check")
    if job.stage != SITE_READY:
        raise Conflict(f"Job {job.code} is '{job.stage}': materials are checked once the site is ready")
    if not bom_of(session, job):
        set_bill_of_materials(session, job, DEFAULT_BOM, actor)
    note_event(session, job, actor, "Material availability check requested from Procurement")
    notify_role(session, PROCUREMENT, "installation", f"{job.code}: check materials", "Check the bill of materials against stock.", job)


def check_materials(session: Session, job: InstallationJob, location_id: int, actor: User) -> list[dict]:
    """Procurement's availability check against one stock location; the result decides the next step."""
    if session.get(StockLocation, location_id) is None:
        raise InvalidInput(f"location_id: no stock location {location_id}")
    if job.stage == SITE_READY and not bom_of(session, job):
        set_bill_of_materials(session, job, DEFAULT_BOM, actor)
    session.flush()
    result = availability(session, job, location_id)
    job.materials_available = all(r["short"] == 0 for r in result) and bool(result)
    job.stock_location_id = location_id
    short = [f"{r['short']} x {r['sku']}" for r in result if r["short"]]
    move_job(session, job, MATERIALS_CHECKED, actor,
             "Materials available" if job.materials_available else "Short: " + ", ".join(short))
    return result


def allocate_materials(session: Session, job: InstallationJob, team_id: int, actor: User) -> list[StockMove]:
    """Take the BOM out of stock for the field team: a conditional UPDATE per line, so stock never goes negative."""
    team = session.get(FieldTeam, int(team_id)) if str(team_id).isdigit() else None
    if team is None:
        raise InvalidInput(f"team_id: no field team {team_id}")
    _require_roles(actor, (PROCUREMENT, MANAGER), "Allocating materials")
    if job.stage != MATERIALS_CHECKED or not job.materials_available:
        raise Conflict(f"Job {job.code} is '{job.stage}'" + ("" if job.stage != MATERIALS_CHECKED else " with materials short")
                       + ": materials are allocated after a check that found them available")
    location_id = job.stock_location_id
    moves = []
    for line in bom_of(session, job):
        taken = session.execute(
            update(StockLevel).where(StockLevel.material_id == line.material_id, StockLevel.location_id == location_id,
                                     StockLevel.quantity >= line.quantity)
            .values(quantity=StockLevel.quantity - line.quantity)
        ).rowcount
        if taken != 1:
            job.materials_available = False
            raise Conflict(f"Not enough {line.material.sku} ({line.material.name}) in stock for {job.code}; check again or procure locally")
        line.allocated = True
        move = StockMove(material_id=line.material_id, location_id=location_id, quantity=-line.quantity, job_id=job.id,
                         team_id=team.id, reason=f"Allocated to {team.name} for {job.code}", user_id=actor.id, at=utcnow())
        session.add(move)
        moves.append(move)
    move_job(session, job, MATERIALS_ALLOCATED, actor, f"Materials allocated to {team.name}")
    return moves


def start_local_procurement(session: Session, job: InstallationJob, actor: User, note: str = "") -> None:
    move_job(session, job, LOCAL_PROCUREMENT, actor, note or "Materials unavailable: local procurement")
    notify_role(session, FIELD_TEAM, "installation", f"{job.code}: buy materials locally",
                "Record the vendor, items, amount and payment details (QR).", job)


def record_vendor_purchase(
    session: Session, job: InstallationJob, actor: User, vendor_name: str, items: str, amount, team_id: Optional[int] = None,
    upi_id: str = "", bank_details: str = "", qr_file=None,
) -> VendorPurchase:
    """The field team's local purchase with the vendor's UPI/bank details (QR image) for Finance."""
    _require_roles(actor, (FIELD_TEAM, PROCUREMENT, CENTRAL_OPS, MANAGER), "Recording a local purchase")
    if job.stage != LOCAL_PROCUREMENT:
        raise Conflict(f"Job {job.code} is '{job.stage}': local purchases are recorded during local procurement")
    if not (vendor_name or "").strip() or not (items or "").strip():
        raise InvalidInput("vendor_name and items: both are required")
    if not (upi_id or "").strip() and not (bank_details or "").strip() and qr_file is None:
        raise InvalidInput("payment details: give the vendor's UPI id, bank details or QR image")
    if team_id and session.get(FieldTeam, int(team_id)) is None:
        raise InvalidInput(f"team_id: no field team {team_id}")
    purchase = VendorPurchase(
        job_id=job.id, team_id=int(team_id) if team_id else None, vendor_name=vendor_name.strip(), items=items.strip(),
        amount=_money(amount), upi_id=(upi_id or "").strip() or None, bank_details=(bank_details or "").strip() or None,
        qr_file_id=qr_file.id if qr_file is not None else None, recorded_by_id=actor.id, created_at=utcnow(),
    )
    session.add(purchase)
    session.flush()
    note_event(session, job, actor, f"Local purchase from {purchase.vendor_name}: {purchase.amount} for {purchase.items}")
    notify_role(session, FINANCE, "installation", f"{job.code}: pay vendor {purchase.vendor_name}", f"Amount {purchase.amount}", job)
    return purchase


def pay_vendor(session: Session, purchase_id: int, reference: str, actor: User, proof_file=None) -> VendorPayment:
    """Finance's direct payment to the vendor, once per purchase, reference unique."""
    _require_roles(actor, (FINANCE, MANAGER), "Paying a vendor")
    purchase = session.get(VendorPurchase, purchase_id)
    if purchase is None:
        raise NotFound(f"No local purchase {purchase_id}")
    reference = (reference or "").strip()
    if not reference:
        raise InvalidInput("reference: the bank/UPI transaction reference")
    if purchase.status == "paid":
        raise Conflict(f"The purchase from {purchase.vendor_name} is already paid ({purchase.payment.reference})")
    payment = VendorPayment(purchase_id=purchase.id, job_id=purchase.job_id, amount=purchase.amount, reference=reference,
                            proof_file_id=proof_file.id if proof_file is not None else None, paid_by_id=actor.id, paid_at=utcnow())
    try:
        with session.begin_nested():
            session.add(payment)
            session.flush()
    except IntegrityError:
        raise Conflict(f"Payment reference {reference} is already used, or this purchase was just paid")
    purchase.status = "paid"
    note_event(session, purchase.job, actor, f"Vendor {purchase.vendor_name} paid {purchase.amount} (ref {reference})")
    notify_role(session, CENTRAL_OPS, "installation", f"{purchase.job.code}: vendor paid", "The installation can be scheduled.", purchase.job)
    return payment
