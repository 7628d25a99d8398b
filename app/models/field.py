"""Field operations: charger issues (the issue tracker), maintenance tasks, force charges with their
wallet holds, Web Push subscriptions and broadcasts."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Optional

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Money, ZERO, created_at_column, utcnow
from app.models.chargers import Charger, ChargingSession
from app.models.customers import Customer, Wallet
from app.models.people import FieldTeam

ISSUE_PRIORITIES = ("Low", "Medium", "High", "Critical")
ISSUE_STATUSES = ("Open", "In Progress", "Resolved", "Closed")
ISSUE_SOURCES = ("manual", "fault", "offline", "ticket")
MAINTENANCE_KINDS = ("Routine", "Repair", "Emergency", "Inspection")
MAINTENANCE_STATUSES = ("Planned", "In Progress", "Done", "Cancelled")
FORCE_CHARGE_MODES = ("amount", "time")
# Starting -> Charging -> Stopping -> Completed; Starting -> Failed (refused / never started: hold released)
FORCE_CHARGE_STATUSES = ("Starting", "Charging", "Stopping", "Completed", "Failed")
HOLD_STATUSES = ("held", "captured", "released")


class ChargerIssue(Model):
    """Something wrong with one charger that someone must fix: priority, assignee, lifecycle, notes."""

    __tablename__ = "charger_issue"
    id: Mapped[int] = mapped_column(primary_key=True)
    charger_id: Mapped[int] = mapped_column(ForeignKey("charger.id", ondelete="RESTRICT"), index=True)
    charger: Mapped[Charger] = relationship(Charger)
    title: Mapped[str] = mapped_column(String(200))
    priority: Mapped[str] = mapped_column(String(10), default="Medium")
    status: Mapped[str] = mapped_column(String(20), default="Open", index=True)
    source: Mapped[str] = mapped_column(String(10), default="manual")  # manual | fault | offline | ticket
    occurrences: Mapped[int] = mapped_column(Integer, default=1)  # fault episodes / alerts folded into it
    assignee_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)
    assignee: Mapped[Optional[User]] = relationship(User, foreign_keys=[assignee_id])
    # the customer ticket it became (or came from): one click each way
    ticket_id: Mapped[Optional[int]] = mapped_column(ForeignKey("support_ticket.id", ondelete="RESTRICT"), unique=True)
    created_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    created_by: Mapped[Optional[User]] = relationship(User, foreign_keys=[created_by_id])
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    resolved_at: Mapped[Optional[datetime]] = mapped_column()
    closed_at: Mapped[Optional[datetime]] = mapped_column()
    notes: Mapped[list["IssueNote"]] = relationship(back_populates="issue", order_by="IssueNote.id")

    __table_args__ = (Index("ix_charger_issue_charger_status", "charger_id", "status"),)

    def __repr__(self) -> str:
        return f"Issue #{self.id}: {self.title}"


class IssueNote(Model):
    """A note on an issue, by a person or by the system (a repeat fault, a cleared fault), with photos."""

    __tablename__ = "charger_issue_note"
    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("charger_issue.id", ondelete="RESTRICT"), index=True)
    issue: Mapped[ChargerIssue] = relationship(back_populates="notes")
    author_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    author: Mapped[Optional[User]] = relationship(User)
    kind: Mapped[str] = mapped_column(String(20), default="note")  # note | fault | offline | fault_cleared
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
    photos: Mapped[list["FieldPhoto"]] = relationship(back_populates="note", order_by="FieldPhoto.id")


class IssueReminder(Model):
    """One reminder (assignee) or escalation (CPO group) per issue and interval: the beat task's idempotency key."""

    __tablename__ = "charger_issue_reminder"
    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("charger_issue.id", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(12))  # reminder | escalation
    slot: Mapped[int] = mapped_column(Integer)  # intervals since the issue opened
    at: Mapped[datetime] = created_at_column()

    __table_args__ = (UniqueConstraint("issue_id", "kind", "slot", name="uq_charger_issue_reminder"),)


class MaintenanceTask(Model):
    """Planned work on a charger or a whole site; a Routine task with repeat_days plans its next one on completion."""

    __tablename__ = "maintenance_task"
    id: Mapped[int] = mapped_column(primary_key=True)
    charger_id: Mapped[Optional[int]] = mapped_column(ForeignKey("charger.id", ondelete="RESTRICT"), index=True)
    charger: Mapped[Optional[Charger]] = relationship(Charger)
    site: Mapped[Optional[str]] = mapped_column(String(120), index=True)  # the charger's site, or a site-wide task
    kind: Mapped[str] = mapped_column(String(12))
    title: Mapped[str] = mapped_column(String(200))
    due_date: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(12), default="Planned", index=True)
    assignee_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)
    assignee: Mapped[Optional[User]] = relationship(User, foreign_keys=[assignee_id])
    field_team_id: Mapped[Optional[int]] = mapped_column(ForeignKey("field_team.id", ondelete="RESTRICT"))
    field_team: Mapped[Optional[FieldTeam]] = relationship(FieldTeam)
    checklist: Mapped[list] = mapped_column(JSON, default=list)  # [{"item": "...", "done": bool}]
    repeat_days: Mapped[Optional[int]] = mapped_column(Integer)
    previous_id: Mapped[Optional[int]] = mapped_column(ForeignKey("maintenance_task.id", ondelete="RESTRICT"), unique=True)  # the task it repeats
    report: Mapped[Optional[str]] = mapped_column(Text)
    readings: Mapped[Optional[dict]] = mapped_column(JSON)  # {"voltage_v": "231", ...} as entered
    completed_at: Mapped[Optional[datetime]] = mapped_column()
    completed_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    completed_by: Mapped[Optional[User]] = relationship(User, foreign_keys=[completed_by_id])
    last_reminded_on: Mapped[Optional[date]] = mapped_column(Date)  # one overdue reminder a day
    created_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at_column()
    photos: Mapped[list["FieldPhoto"]] = relationship(back_populates="task", order_by="FieldPhoto.id")

    def __repr__(self) -> str:
        return f"{self.kind} #{self.id}: {self.title}"


class FieldPhoto(Model):
    """A photo on an issue note or a maintenance report, stored under UPLOAD_DIR (outside the web root)."""

    __tablename__ = "field_photo"
    id: Mapped[int] = mapped_column(primary_key=True)
    note_id: Mapped[Optional[int]] = mapped_column(ForeignKey("charger_issue_note.id", ondelete="RESTRICT"), index=True)
    note: Mapped[Optional[IssueNote]] = relationship(back_populates="photos")
    task_id: Mapped[Optional[int]] = mapped_column(ForeignKey("maintenance_task.id", ondelete="RESTRICT"), index=True)
    task: Mapped[Optional[MaintenanceTask]] = relationship(back_populates="photos")
    stored_name: Mapped[str] = mapped_column(String(120), unique=True)
    original_name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(60))
    size: Mapped[int] = mapped_column(Integer)
    uploaded_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at_column()


class WalletHold(Model):
    """Money set aside on a wallet (wallet.held) until it is captured as one charge or released."""

    __tablename__ = "wallet_hold"
    id: Mapped[int] = mapped_column(primary_key=True)
    wallet_id: Mapped[int] = mapped_column(ForeignKey("wallet.id", ondelete="RESTRICT"), index=True)
    wallet: Mapped[Wallet] = relationship(Wallet)
    amount: Mapped[Decimal] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(10), default="held", index=True)
    source_type: Mapped[str] = mapped_column(String(40))
    source_ref: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = created_at_column()
    settled_at: Mapped[Optional[datetime]] = mapped_column()

    __table_args__ = (UniqueConstraint("source_type", "source_ref", name="uq_wallet_hold_source"),)


class ForceCharge(Model):
    """A session started from the back office for a customer, stopped by ChargeOps at an amount or a time."""

    __tablename__ = "force_charge"
    id: Mapped[int] = mapped_column(primary_key=True)
    charger_id: Mapped[int] = mapped_column(ForeignKey("charger.id", ondelete="RESTRICT"), index=True)
    charger: Mapped[Charger] = relationship(Charger)
    connector_id: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="RESTRICT"), index=True)
    customer: Mapped[Customer] = relationship(Customer)
    id_tag: Mapped[str] = mapped_column(String(20))
    mode: Mapped[str] = mapped_column(String(6))  # amount | time
    amount: Mapped[Optional[Decimal]] = mapped_column(Money)  # amount mode: stop when the energy costs this
    minutes: Mapped[Optional[int]] = mapped_column(Integer)  # time mode: stop after this long
    tariff_per_kwh: Mapped[Decimal] = mapped_column(Money)
    hold_id: Mapped[Optional[int]] = mapped_column(ForeignKey("wallet_hold.id", ondelete="RESTRICT"), unique=True)
    hold: Mapped[Optional[WalletHold]] = relationship(WalletHold)
    status: Mapped[str] = mapped_column(String(10), default="Starting", index=True)
    command_id: Mapped[Optional[str]] = mapped_column(String(36), index=True)
    stop_command_id: Mapped[Optional[str]] = mapped_column(String(36))
    session_id: Mapped[Optional[int]] = mapped_column(ForeignKey("charging_session.id", ondelete="RESTRICT"), unique=True)
    charging_session: Mapped[Optional[ChargingSession]] = relationship(ChargingSession)
    energy_wh: Mapped[int] = mapped_column(Integer, default=0)
    amount_charged: Mapped[Optional[Decimal]] = mapped_column(Money)
    wallet_entry_id: Mapped[Optional[int]] = mapped_column(ForeignKey("wallet_entry.id", ondelete="RESTRICT"))
    failure: Mapped[Optional[str]] = mapped_column(String(200))
    created_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    created_by: Mapped[Optional[User]] = relationship(User)
    created_at: Mapped[datetime] = created_at_column()
    started_at: Mapped[Optional[datetime]] = mapped_column()
    stop_at: Mapped[Optional[datetime]] = mapped_column(index=True)  # time mode: started_at + minutes
    stopped_at: Mapped[Optional[datetime]] = mapped_column()

    def __repr__(self) -> str:
        return f"Force charge #{self.id}"


class PushSubscription(Model):
    """A browser's or the field app's Web Push subscription for one person."""

    __tablename__ = "push_subscription"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id", ondelete="CASCADE"), index=True)
    endpoint: Mapped[str] = mapped_column(String(1000), unique=True)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = created_at_column()


class PushDelivery(Model):
    """One push to send to one subscription (pending until the Web Push sender delivers it)."""

    __tablename__ = "push_delivery"
    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("push_subscription.id", ondelete="CASCADE"), index=True)
    subscription: Mapped[PushSubscription] = relationship(PushSubscription)
    notification_id: Mapped[Optional[int]] = mapped_column(ForeignKey("notification.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[Optional[str]] = mapped_column(Text)
    link: Mapped[Optional[str]] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)  # pending | sent | failed
    created_at: Mapped[datetime] = created_at_column()
    sent_at: Mapped[Optional[datetime]] = mapped_column()

    __table_args__ = (UniqueConstraint("subscription_id", "notification_id", name="uq_push_delivery"),)


class Broadcast(Model):
    """A message composed by a person for a group or a role, and how many it reached."""

    __tablename__ = "broadcast"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    group_code: Mapped[Optional[str]] = mapped_column(String(40))
    role: Mapped[Optional[str]] = mapped_column(String(40))
    channels: Mapped[str] = mapped_column(String(40))  # comma-separated: inapp,whatsapp,push
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    created_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    created_by: Mapped[Optional[User]] = relationship(User)
    created_at: Mapped[datetime] = created_at_column()
