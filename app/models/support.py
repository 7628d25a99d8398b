"""Support: hotline calls, tickets (notes, audit trail, SLA alerts) and the customer request queue."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import created_at_column, utcnow
from app.models.customers import Customer
from app.models.people import Department

CALL_CATEGORIES = ("Payment Issues", "Charger Faults", "General Inquiry", "Complaints")
CALL_OUTCOMES = ("Resolved on call", "Information given", "Callback needed", "Escalated", "Dropped")
CALL_STATUSES = ("Open", "Resolved", "Escalated")
PRIORITIES = ("Critical", "High", "Medium", "Low")
TICKET_STATUSES = ("Open", "In Progress", "Resolved", "Closed")
REQUEST_CHANNELS = ("web", "api", "whatsapp", "phone")
REQUEST_STATUSES = ("New", "Assigned", "In Progress", "Resolved", "Closed")


class Call(Model):
    """One hotline call as the agent logged it."""

    __tablename__ = "support_call"
    id: Mapped[int] = mapped_column(primary_key=True)
    caller_phone: Mapped[Optional[str]] = mapped_column(String(20), index=True)  # E.164 when valid
    customer_id: Mapped[Optional[int]] = mapped_column(ForeignKey("customer.id", ondelete="RESTRICT"), index=True)
    customer: Mapped[Optional[Customer]] = relationship(Customer)
    category: Mapped[str] = mapped_column(String(30))
    charger_ref: Mapped[Optional[str]] = mapped_column(String(60), index=True)  # free text until Chargers lands
    summary: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[Optional[str]] = mapped_column(String(30))
    resolution: Mapped[Optional[str]] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="Open")
    agent_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    agent: Mapped[Optional[User]] = relationship(User, foreign_keys=[agent_id])
    assignee_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)
    assignee: Mapped[Optional[User]] = relationship(User, foreign_keys=[assignee_id])
    department_id: Mapped[Optional[int]] = mapped_column(ForeignKey("department.id", ondelete="RESTRICT"))
    department: Mapped[Optional[Department]] = relationship(Department)
    # the escalated ticket holds the link (support_ticket.call_id, unique); this is its other end
    ticket: Mapped[Optional["Ticket"]] = relationship(
        primaryjoin="Call.id == foreign(Ticket.call_id)", uselist=False, viewonly=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    resolved_at: Mapped[Optional[datetime]] = mapped_column()

    __table_args__ = (
        # the dashboard (per day per category) and the filtered history page
        Index("ix_support_call_created_category", "created_at", "category"),
        Index("ix_support_call_category_created", "category", "created_at"),
        Index("ix_support_call_agent_created", "agent_id", "created_at"),  # calls handled per agent, history by agent
    )

    def __repr__(self) -> str:
        return f"Call #{self.id}"


class Ticket(Model):
    """A unit of work with a priority, a lifecycle, SLA due times and an audit trail."""

    __tablename__ = "support_ticket"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[Optional[str]] = mapped_column(String(30))
    priority: Mapped[str] = mapped_column(String(10), default="Medium")
    status: Mapped[str] = mapped_column(String(20), default="Open")
    customer_id: Mapped[Optional[int]] = mapped_column(ForeignKey("customer.id", ondelete="RESTRICT"), index=True)
    customer: Mapped[Optional[Customer]] = relationship(Customer)
    # the charger it is about: a registry row, not free text (0016 moved the old text by cid)
    charger_id: Mapped[Optional[int]] = mapped_column(ForeignKey("charger.id", ondelete="RESTRICT"), index=True)
    charger: Mapped[Optional["Charger"]] = relationship("Charger")
    # unique: escalating the same call twice finds this ticket instead of creating another
    call_id: Mapped[Optional[int]] = mapped_column(ForeignKey("support_call.id", ondelete="RESTRICT"), unique=True)
    call: Mapped[Optional[Call]] = relationship(foreign_keys=[call_id], overlaps="ticket")
    request_id: Mapped[Optional[int]] = mapped_column(ForeignKey("customer_request.id", ondelete="RESTRICT"), unique=True)
    assignee_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)
    assignee: Mapped[Optional[User]] = relationship(User, foreign_keys=[assignee_id])
    department_id: Mapped[Optional[int]] = mapped_column(ForeignKey("department.id", ondelete="RESTRICT"))
    department: Mapped[Optional[Department]] = relationship(Department)
    created_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    created_by: Mapped[Optional[User]] = relationship(User, foreign_keys=[created_by_id])
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)  # last time someone acted
    first_response_due: Mapped[Optional[datetime]] = mapped_column()
    first_response_warn_at: Mapped[Optional[datetime]] = mapped_column()
    resolution_due: Mapped[Optional[datetime]] = mapped_column()
    resolution_warn_at: Mapped[Optional[datetime]] = mapped_column()
    first_responded_at: Mapped[Optional[datetime]] = mapped_column()
    resolved_at: Mapped[Optional[datetime]] = mapped_column()
    closed_at: Mapped[Optional[datetime]] = mapped_column()
    resolve_minutes: Mapped[Optional[int]] = mapped_column()  # created -> last resolution, for medians in SQL
    reopen_count: Mapped[int] = mapped_column(default=0)
    notes: Mapped[list["TicketNote"]] = relationship(back_populates="ticket", order_by="TicketNote.id", passive_deletes="all")

    __table_args__ = (
        Index("ix_support_ticket_status_priority", "status", "priority"),
        Index("ix_support_ticket_resolved", "resolved_at", "assignee_id", "resolve_minutes"),
        Index("ix_support_ticket_created", "created_at"),
    )

    @property
    def response_breached(self) -> bool:
        if self.first_response_due is None:
            return False
        return (self.first_responded_at or utcnow()) > self.first_response_due

    @property
    def resolution_breached(self) -> bool:
        if self.resolution_due is None:
            return False
        done = self.resolved_at if self.status in ("Resolved", "Closed") else None
        return (done or utcnow()) > self.resolution_due

    @property
    def charger_ref(self) -> Optional[str]:
        """The charger's OCPP identity, as screens and the API have always shown it."""
        return self.charger.cid if self.charger is not None else None

    def __repr__(self) -> str:
        return f"Ticket #{self.id}: {self.title}"


class TicketNote(Model):
    __tablename__ = "support_ticket_note"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("support_ticket.id", ondelete="RESTRICT"), index=True)
    ticket: Mapped[Ticket] = relationship(back_populates="notes")
    author_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    author: Mapped[Optional[User]] = relationship(User)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()


class SupportAudit(Model):
    """Append-only: every field change of a ticket, call or request (who, when, old, new)."""

    __tablename__ = "support_audit"
    id: Mapped[int] = mapped_column(primary_key=True)
    entity: Mapped[str] = mapped_column(String(20))  # ticket | call | request
    entity_id: Mapped[int] = mapped_column()
    field: Mapped[str] = mapped_column(String(40))
    old_value: Mapped[Optional[str]] = mapped_column(Text)
    new_value: Mapped[Optional[str]] = mapped_column(Text)
    user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    user: Mapped[Optional[User]] = relationship(User)
    at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)

    __table_args__ = (Index("ix_support_audit_entity", "entity", "entity_id"),)


class SlaAlert(Model):
    """One SLA warning or breach notice per ticket, target and stage: the idempotency key of the beat task."""

    __tablename__ = "support_sla_alert"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("support_ticket.id", ondelete="RESTRICT"))
    target: Mapped[str] = mapped_column(String(20))  # response | resolution
    stage: Mapped[str] = mapped_column(String(10))  # warning | breach
    at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)

    __table_args__ = (UniqueConstraint("ticket_id", "target", "stage", name="uq_support_sla_alert"),)


class CustomerRequest(Model):
    """A request from a customer (web form, API, WhatsApp, phone), classified and routed."""

    __tablename__ = "customer_request"
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))  # web | api | whatsapp | phone
    text: Mapped[str] = mapped_column(Text)
    customer_id: Mapped[Optional[int]] = mapped_column(ForeignKey("customer.id", ondelete="RESTRICT"), index=True)
    customer: Mapped[Optional[Customer]] = relationship(Customer)
    phone: Mapped[Optional[str]] = mapped_column(String(20))  # E.164 when valid
    # e.g. a WhatsApp message SID: one request per (channel, source_ref)
    source_ref: Mapped[Optional[str]] = mapped_column(String(120))
    category: Mapped[Optional[str]] = mapped_column(String(30))
    urgency: Mapped[Optional[str]] = mapped_column(String(10))
    department: Mapped[Optional[str]] = mapped_column(String(40))  # the classifier's suggestion
    summary: Mapped[Optional[str]] = mapped_column(String(300))
    confidence: Mapped[Optional[float]] = mapped_column(Float)
    classifier: Mapped[Optional[str]] = mapped_column(String(80))  # "claude:<model>" | "rules"
    classified_at: Mapped[Optional[datetime]] = mapped_column()
    assigned_department_id: Mapped[Optional[int]] = mapped_column(ForeignKey("department.id", ondelete="RESTRICT"))
    assigned_department: Mapped[Optional[Department]] = relationship(Department)
    assignee_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)
    assignee: Mapped[Optional[User]] = relationship(User, foreign_keys=[assignee_id])
    priority: Mapped[Optional[str]] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20), default="New")
    assignment_overridden: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    created_by: Mapped[Optional[User]] = relationship(User, foreign_keys=[created_by_id])
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)  # last time someone acted

    __table_args__ = (
        UniqueConstraint("channel", "source_ref", name="uq_customer_request_source"),
        Index("ix_customer_request_status_created", "status", "created_at"),
    )

    def __repr__(self) -> str:
        return f"Request #{self.id}"
