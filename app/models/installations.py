"""Installations: OEMs and their leads, the installation job through eight phases, field visits,
materials and stock, local procurement, vendor payments and field-team payouts."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Optional

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import CheckConstraint, ForeignKey, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Money, ZERO, created_at_column, utcnow
from app.models.customers import Customer
from app.models.people import FieldTeam


class Oem(Model):
    """A vehicle maker that shares installation leads and receives progress reports."""

    __tablename__ = "oem"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    contact_name: Mapped[Optional[str]] = mapped_column(String(120))
    contact_email: Mapped[Optional[str]] = mapped_column(String(254))
    contact_phone: Mapped[Optional[str]] = mapped_column(String(20))
    report_emails: Mapped[Optional[str]] = mapped_column(Text)  # comma-separated extra recipients
    active: Mapped[bool] = mapped_column(default=True)

    def __repr__(self) -> str:
        return self.name


class OemUser(Model):
    """Links a login to the OEM it speaks for: OEM users see only that OEM's leads and jobs."""

    __tablename__ = "oem_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id", ondelete="CASCADE"), unique=True)
    user: Mapped[User] = relationship(User)
    oem_id: Mapped[int] = mapped_column(ForeignKey("oem.id", ondelete="CASCADE"), index=True)
    oem: Mapped[Oem] = relationship(Oem)


class Lead(Model):
    """An installation lead as the OEM shared it; (oem, oem_ref) is the idempotency key."""

    __tablename__ = "installation_lead"
    __table_args__ = (UniqueConstraint("oem_id", "oem_ref", name="uq_lead_oem_ref"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    oem_id: Mapped[int] = mapped_column(ForeignKey("oem.id", ondelete="RESTRICT"), index=True)
    oem: Mapped[Oem] = relationship(Oem)
    oem_ref: Mapped[str] = mapped_column(String(80))
    source: Mapped[str] = mapped_column(String(20))  # api | portal | central ops
    customer_name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str] = mapped_column(String(20))  # E.164
    email: Mapped[Optional[str]] = mapped_column(String(254))
    address: Mapped[Optional[str]] = mapped_column(Text)
    district: Mapped[Optional[str]] = mapped_column(String(60), index=True)
    vehicle_model: Mapped[Optional[str]] = mapped_column(String(80))
    charger_type: Mapped[Optional[str]] = mapped_column(String(40))
    notes: Mapped[Optional[str]] = mapped_column(Text)
    created_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    created_by: Mapped[Optional[User]] = relationship(User)
    created_at: Mapped[datetime] = created_at_column()
    job: Mapped[Optional["InstallationJob"]] = relationship(back_populates="lead", uselist=False, passive_deletes="all")

    def __repr__(self) -> str:
        return f"{self.oem_ref} {self.customer_name}"


class InstallationJob(Model):
    """One installation per lead, moved through its stages only by the transition service."""

    __tablename__ = "installation_job"
    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("installation_lead.id", ondelete="RESTRICT"), unique=True)
    lead: Mapped[Lead] = relationship(back_populates="job")
    oem_id: Mapped[int] = mapped_column(ForeignKey("oem.id", ondelete="RESTRICT"), index=True)  # copied from the lead for scoping
    oem: Mapped[Oem] = relationship(Oem)
    customer_id: Mapped[Optional[int]] = mapped_column(ForeignKey("customer.id", ondelete="RESTRICT"), index=True)
    customer: Mapped[Optional[Customer]] = relationship(Customer)
    stage: Mapped[str] = mapped_column(String(40), index=True)
    stage_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    held_from_stage: Mapped[Optional[str]] = mapped_column(String(40))
    priority: Mapped[bool] = mapped_column(default=False, index=True)
    emergency: Mapped[bool] = mapped_column(default=False)
    district: Mapped[Optional[str]] = mapped_column(String(60), index=True)
    address: Mapped[Optional[str]] = mapped_column(Text)
    latitude: Mapped[Optional[Decimal]] = mapped_column(Numeric(9, 6))
    longitude: Mapped[Optional[Decimal]] = mapped_column(Numeric(9, 6))
    electrician_name: Mapped[Optional[str]] = mapped_column(String(120))
    electrician_phone: Mapped[Optional[str]] = mapped_column(String(20))
    site_ready: Mapped[Optional[bool]] = mapped_column()
    required_work: Mapped[Optional[str]] = mapped_column(String(200))  # comma-separated work types
    required_work_note: Mapped[Optional[str]] = mapped_column(Text)
    materials_available: Mapped[Optional[bool]] = mapped_column()
    stock_location_id: Mapped[Optional[int]] = mapped_column(ForeignKey("stock_location.id", ondelete="RESTRICT"))
    charger_serial: Mapped[Optional[str]] = mapped_column(String(80))
    ocpp_identity: Mapped[Optional[str]] = mapped_column(String(80))
    signoff_name: Mapped[Optional[str]] = mapped_column(String(120))
    signoff_at: Mapped[Optional[datetime]] = mapped_column()
    closure_submitted_at: Mapped[Optional[datetime]] = mapped_column()
    payable_at: Mapped[Optional[datetime]] = mapped_column()
    paid_at: Mapped[Optional[datetime]] = mapped_column()
    created_at: Mapped[datetime] = created_at_column()
    events: Mapped[list["JobEvent"]] = relationship(back_populates="job", order_by="JobEvent.id", passive_deletes="all")
    visits: Mapped[list["JobVisit"]] = relationship(back_populates="job", order_by="JobVisit.id", passive_deletes="all")

    @property
    def code(self) -> str:
        return f"INS-{self.id:05d}"

    @property
    def customer_name(self) -> str:
        return self.lead.customer_name if self.lead else ""

    def __repr__(self) -> str:
        return self.code


class JobEvent(Model):
    """Append-only audit of a job: every stage change (and noteworthy action) with who and why."""

    __tablename__ = "job_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("installation_job.id", ondelete="RESTRICT"), index=True)
    job: Mapped[InstallationJob] = relationship(back_populates="events")
    at: Mapped[datetime] = created_at_column()
    user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    user: Mapped[Optional[User]] = relationship(User)
    actor: Mapped[str] = mapped_column(String(80))  # username, "customer" or "system"
    from_stage: Mapped[Optional[str]] = mapped_column(String(40))
    to_stage: Mapped[str] = mapped_column(String(40))
    comment: Mapped[Optional[str]] = mapped_column(Text)


class JobCall(Model):
    """A phone call about the job (intro, survey day, installation day, closure) and its outcome."""

    __tablename__ = "job_call"
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("installation_job.id", ondelete="RESTRICT"), index=True)
    job: Mapped[InstallationJob] = relationship()
    purpose: Mapped[str] = mapped_column(String(30))
    outcome: Mapped[str] = mapped_column(String(30))
    note: Mapped[Optional[str]] = mapped_column(Text)
    user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    user: Mapped[Optional[User]] = relationship(User)
    at: Mapped[datetime] = created_at_column()


class JobMessage(Model):
    """An outbound message to the customer (queued here; the Messaging module delivers it)."""

    __tablename__ = "job_message"
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("installation_job.id", ondelete="RESTRICT"), index=True)
    job: Mapped[InstallationJob] = relationship()
    channel: Mapped[str] = mapped_column(String(20), default="whatsapp")
    to_phone: Mapped[Optional[str]] = mapped_column(String(20))
    template: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    created_at: Mapped[datetime] = created_at_column()


class JobFile(Model):
    """An uploaded document or media file; stored under UPLOAD_DIR with a generated name."""

    __tablename__ = "job_file"
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("installation_job.id", ondelete="RESTRICT"), index=True)
    job: Mapped[InstallationJob] = relationship()
    kind: Mapped[str] = mapped_column(String(30), index=True)
    stored_name: Mapped[str] = mapped_column(String(80), unique=True)
    original_name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(60))
    size: Mapped[int] = mapped_column()
    uploaded_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    uploaded_by: Mapped[Optional[User]] = relationship(User)
    created_at: Mapped[datetime] = created_at_column()


class JobVisit(Model):
    """A survey or installation visit: a date and slot, then a team (history kept on reassignments)."""

    __tablename__ = "job_visit"
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("installation_job.id", ondelete="RESTRICT"), index=True)
    job: Mapped[InstallationJob] = relationship(back_populates="visits")
    kind: Mapped[str] = mapped_column(String(20))  # survey | installation
    code: Mapped[str] = mapped_column(String(30), index=True)  # Survey ID / Installation ID shared with the team
    visit_date: Mapped[date] = mapped_column(index=True)
    slot: Mapped[str] = mapped_column(String(20))
    team_id: Mapped[Optional[int]] = mapped_column(ForeignKey("field_team.id", ondelete="RESTRICT"), index=True)
    team: Mapped[Optional[FieldTeam]] = relationship(FieldTeam)
    status: Mapped[str] = mapped_column(String(20), index=True)  # scheduled assigned done team unavailable rescheduled
    emergency: Mapped[bool] = mapped_column(default=False)
    note: Mapped[Optional[str]] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()


class TeamBooking(Model):
    """A team's slot: the unique key is what refuses double booking, even under concurrency."""

    __tablename__ = "team_booking"
    __table_args__ = (UniqueConstraint("team_id", "booking_date", "slot", name="uq_team_booking_slot"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("field_team.id", ondelete="RESTRICT"), index=True)
    team: Mapped[FieldTeam] = relationship(FieldTeam)
    booking_date: Mapped[date] = mapped_column(index=True)
    slot: Mapped[str] = mapped_column(String(20))
    visit_id: Mapped[Optional[int]] = mapped_column(ForeignKey("job_visit.id", ondelete="RESTRICT"))
    visit: Mapped[Optional[JobVisit]] = relationship(JobVisit)
    status: Mapped[str] = mapped_column(String(20), default="booked")  # booked | unavailable


class SurveyReport(Model):
    __tablename__ = "survey_report"
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("installation_job.id", ondelete="RESTRICT"), unique=True)
    job: Mapped[InstallationJob] = relationship()
    team_id: Mapped[Optional[int]] = mapped_column(ForeignKey("field_team.id", ondelete="RESTRICT"))
    checklist: Mapped[str] = mapped_column(Text)  # JSON: site fact -> answer
    notes: Mapped[Optional[str]] = mapped_column(Text)
    submitted_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    submitted_by: Mapped[Optional[User]] = relationship(User)
    submitted_at: Mapped[datetime] = created_at_column()


class InstallationReport(Model):
    __tablename__ = "installation_report"
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("installation_job.id", ondelete="RESTRICT"), unique=True)
    job: Mapped[InstallationJob] = relationship()
    team_id: Mapped[Optional[int]] = mapped_column(ForeignKey("field_team.id", ondelete="RESTRICT"))
    charger_serial: Mapped[str] = mapped_column(String(80))
    ocpp_identity: Mapped[str] = mapped_column(String(80))
    demo_given: Mapped[bool] = mapped_column(default=False)
    notes: Mapped[Optional[str]] = mapped_column(Text)
    submitted_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    submitted_by: Mapped[Optional[User]] = relationship(User)
    submitted_at: Mapped[datetime] = created_at_column()


class Material(Model):
    __tablename__ = "material"
    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    category: Mapped[str] = mapped_column(String(40))  # charger | cable | mounting hardware | protection | other
    unit: Mapped[str] = mapped_column(String(20), default="pcs")
    unit_cost: Mapped[Decimal] = mapped_column(Money, default=ZERO)

    def __repr__(self) -> str:
        return f"{self.sku} {self.name}"


class StockLocation(Model):
    __tablename__ = "stock_location"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    district: Mapped[Optional[str]] = mapped_column(String(60))

    def __repr__(self) -> str:
        return self.name


class StockLevel(Model):
    """On-hand quantity; only changed with a stock move, never below zero."""

    __tablename__ = "stock_level"
    __table_args__ = (
        UniqueConstraint("material_id", "location_id", name="uq_stock_level"),
        CheckConstraint("quantity >= 0", name="ck_stock_level_not_negative"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    material_id: Mapped[int] = mapped_column(ForeignKey("material.id", ondelete="RESTRICT"), index=True)
    material: Mapped[Material] = relationship(Material)
    location_id: Mapped[int] = mapped_column(ForeignKey("stock_location.id", ondelete="RESTRICT"), index=True)
    location: Mapped[StockLocation] = relationship(StockLocation)
    quantity: Mapped[int] = mapped_column(default=0)


class StockMove(Model):
    """Append-only stock ledger: receipts (+) and allocations to a team for a job (-)."""

    __tablename__ = "stock_move"
    id: Mapped[int] = mapped_column(primary_key=True)
    material_id: Mapped[int] = mapped_column(ForeignKey("material.id", ondelete="RESTRICT"), index=True)
    material: Mapped[Material] = relationship(Material)
    location_id: Mapped[int] = mapped_column(ForeignKey("stock_location.id", ondelete="RESTRICT"), index=True)
    location: Mapped[StockLocation] = relationship(StockLocation)
    quantity: Mapped[int] = mapped_column()
    job_id: Mapped[Optional[int]] = mapped_column(ForeignKey("installation_job.id", ondelete="RESTRICT"), index=True)
    team_id: Mapped[Optional[int]] = mapped_column(ForeignKey("field_team.id", ondelete="RESTRICT"))
    team: Mapped[Optional[FieldTeam]] = relationship(FieldTeam)
    reason: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    user: Mapped[Optional[User]] = relationship(User)
    at: Mapped[datetime] = created_at_column()


class BomLine(Model):
    """The job's bill of materials."""

    __tablename__ = "bom_line"
    __table_args__ = (UniqueConstraint("job_id", "material_id", name="uq_bom_line"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("installation_job.id", ondelete="RESTRICT"), index=True)
    material_id: Mapped[int] = mapped_column(ForeignKey("material.id", ondelete="RESTRICT"))
    material: Mapped[Material] = relationship(Material)
    quantity: Mapped[int] = mapped_column()
    allocated: Mapped[bool] = mapped_column(default=False)


class VendorPurchase(Model):
    """Local procurement by a field team when stock is short, paid directly to the vendor by Finance."""

    __tablename__ = "vendor_purchase"
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("installation_job.id", ondelete="RESTRICT"), index=True)
    job: Mapped[InstallationJob] = relationship()
    team_id: Mapped[Optional[int]] = mapped_column(ForeignKey("field_team.id", ondelete="RESTRICT"))
    team: Mapped[Optional[FieldTeam]] = relationship(FieldTeam)
    vendor_name: Mapped[str] = mapped_column(String(120))
    items: Mapped[str] = mapped_column(Text)
    amount: Mapped[Decimal] = mapped_column(Money)
    upi_id: Mapped[Optional[str]] = mapped_column(String(120))
    bank_details: Mapped[Optional[str]] = mapped_column(Text)
    qr_file_id: Mapped[Optional[int]] = mapped_column(ForeignKey("job_file.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(20), default="awaiting payment", index=True)
    recorded_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at_column()
    payment: Mapped[Optional["VendorPayment"]] = relationship(back_populates="purchase", uselist=False, passive_deletes="all")


class VendorPayment(Model):
    """Finance's direct payment to a vendor; one per purchase, reference unique."""

    __tablename__ = "vendor_payment"
    id: Mapped[int] = mapped_column(primary_key=True)
    purchase_id: Mapped[int] = mapped_column(ForeignKey("vendor_purchase.id", ondelete="RESTRICT"), unique=True)
    purchase: Mapped[VendorPurchase] = relationship(back_populates="payment")
    job_id: Mapped[int] = mapped_column(ForeignKey("installation_job.id", ondelete="RESTRICT"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    reference: Mapped[str] = mapped_column(String(80), unique=True)
    proof_file_id: Mapped[Optional[int]] = mapped_column(ForeignKey("job_file.id", ondelete="RESTRICT"))
    paid_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    paid_by: Mapped[Optional[User]] = relationship(User)
    paid_at: Mapped[datetime] = created_at_column()


class Payout(Model):
    """A payment to a field team covering one or more jobs (per its payment schedule)."""

    __tablename__ = "team_payout"
    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("field_team.id", ondelete="RESTRICT"), index=True)
    team: Mapped[FieldTeam] = relationship(FieldTeam)
    period_start: Mapped[date] = mapped_column()
    period_end: Mapped[date] = mapped_column()
    amount: Mapped[Decimal] = mapped_column(Money)
    reference: Mapped[str] = mapped_column(String(80), unique=True)
    released_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    released_by: Mapped[Optional[User]] = relationship(User)
    created_at: Mapped[datetime] = created_at_column()
    items: Mapped[list["PayoutItem"]] = relationship(back_populates="payout", passive_deletes="all")


class PayoutItem(Model):
    """A job covered by a payout; the unique job_id means a job is never paid twice."""

    __tablename__ = "payout_item"
    id: Mapped[int] = mapped_column(primary_key=True)
    payout_id: Mapped[int] = mapped_column(ForeignKey("team_payout.id", ondelete="RESTRICT"), index=True)
    payout: Mapped[Payout] = relationship(back_populates="items")
    job_id: Mapped[int] = mapped_column(ForeignKey("installation_job.id", ondelete="RESTRICT"), unique=True)
    job: Mapped[InstallationJob] = relationship()
    survey_amount: Mapped[Decimal] = mapped_column(Money, default=ZERO)
    installation_amount: Mapped[Decimal] = mapped_column(Money, default=ZERO)
    amount: Mapped[Decimal] = mapped_column(Money)


class OemReport(Model):
    """A weekly/monthly OEM progress report that was built and e-mailed."""

    __tablename__ = "oem_report"
    __table_args__ = (UniqueConstraint("oem_id", "period", "period_start", name="uq_oem_report_period"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    oem_id: Mapped[int] = mapped_column(ForeignKey("oem.id", ondelete="RESTRICT"), index=True)
    oem: Mapped[Oem] = relationship(Oem)
    period: Mapped[str] = mapped_column(String(10))  # weekly | monthly
    period_start: Mapped[date] = mapped_column()
    period_end: Mapped[date] = mapped_column()
    stored_name: Mapped[str] = mapped_column(String(120))
    rows: Mapped[int] = mapped_column(default=0)
    emailed_to: Mapped[Optional[str]] = mapped_column(Text)
    # "sent" only once the SMTP server accepted the message; "failed" with the server's (or network's) reason
    email_status: Mapped[Optional[str]] = mapped_column(String(10))
    email_error: Mapped[Optional[str]] = mapped_column(Text)
    emailed_at: Mapped[Optional[datetime]] = mapped_column()
    created_at: Mapped[datetime] = created_at_column()
