"""Messaging: WhatsApp conversations and messages (in and out), e-mail, templates, media,
in-app notifications, notification groups and the alert history."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import created_at_column, utcnow
from app.models.customers import Customer

# Twilio's delivery states in the order a message moves through them (a late callback never goes back).
OUTBOUND_STATUSES = ("pending", "sending", "retrying", "queued", "sent", "delivered", "read", "failed", "undelivered")
STATUS_RANK = {"pending": 0, "sending": 1, "retrying": 1, "accepted": 2, "scheduled": 2, "queued": 2,
               "sent": 3, "delivered": 4, "read": 5, "failed": 6, "undelivered": 6, "canceled": 6}
FINAL_STATUSES = ("delivered", "read", "failed", "undelivered", "canceled")
CONVERSATION_STATUSES = ("open", "resolved")
MEDIA_STATUSES = ("pending", "stored", "rejected", "failed")


class Notification(Model):
    """An in-app notification for one person, read or unread."""

    __tablename__ = "notification"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id", ondelete="CASCADE"), index=True)
    user: Mapped[User] = relationship(User)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[Optional[str]] = mapped_column(Text)
    link: Mapped[Optional[str]] = mapped_column(String(500))
    ref_type: Mapped[Optional[str]] = mapped_column(String(40))
    ref_id: Mapped[Optional[int]] = mapped_column()
    created_at: Mapped[datetime] = created_at_column()
    read_at: Mapped[Optional[datetime]] = mapped_column()

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class MessageTemplate(Model):
    """An approved WhatsApp template: the only thing a business may send outside the 24-hour window.

    `body` uses named placeholders `{{name}}`; `variables` lists them in Twilio's order
    (Content API variables "1", "2", ... map to this order when `content_sid` is set)."""

    __tablename__ = "message_template"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text)
    variables: Mapped[str] = mapped_column(String(300), default="")  # comma-separated, in order
    content_sid: Mapped[Optional[str]] = mapped_column(String(40))  # Twilio Content API SID (HX...)
    language: Mapped[str] = mapped_column(String(10), default="en")
    approved: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)

    def variable_names(self) -> list[str]:
        return [v.strip() for v in (self.variables or "").split(",") if v.strip()]

    def __repr__(self) -> str:
        return self.name


class Conversation(Model):
    """All WhatsApp traffic with one customer: the inbox row."""

    __tablename__ = "conversation"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="RESTRICT"), unique=True)
    customer: Mapped[Customer] = relationship(Customer)
    phone: Mapped[str] = mapped_column(String(20))  # E.164, the WhatsApp number
    status: Mapped[str] = mapped_column(String(10), default="open")  # open | resolved
    assignee_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)
    assignee: Mapped[Optional[User]] = relationship(User, foreign_keys=[assignee_id])
    unread_count: Mapped[int] = mapped_column(default=0)
    last_message_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    last_inbound_at: Mapped[Optional[datetime]] = mapped_column()  # opens the 24-hour window
    last_preview: Mapped[Optional[str]] = mapped_column(String(200))
    department: Mapped[Optional[str]] = mapped_column(String(40))  # routing of the latest classified message
    priority: Mapped[Optional[str]] = mapped_column(String(10))
    resolved_at: Mapped[Optional[datetime]] = mapped_column()
    resolved_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    resolved_by: Mapped[Optional[User]] = relationship(User, foreign_keys=[resolved_by_id])
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (Index("ix_conversation_status_last", "status", "last_message_at"),)

    def __repr__(self) -> str:
        return f"Conversation with {self.customer.name if self.customer else self.phone}"


class Message(Model):
    """One WhatsApp message or e-mail, inbound or outbound.

    Two idempotency keys: `provider_sid` (Twilio's MessageSid: an inbound retry is stored once,
    a status callback finds its message) and `idempotency_key` (a caller's retry of a send)."""

    __tablename__ = "message"
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(10), default="whatsapp")  # whatsapp | email
    direction: Mapped[str] = mapped_column(String(10))  # inbound | outbound
    conversation_id: Mapped[Optional[int]] = mapped_column(ForeignKey("conversation.id", ondelete="RESTRICT"))
    conversation: Mapped[Optional[Conversation]] = relationship(Conversation)
    customer_id: Mapped[Optional[int]] = mapped_column(ForeignKey("customer.id", ondelete="RESTRICT"), index=True)
    customer: Mapped[Optional[Customer]] = relationship(Customer)
    recipient_user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)
    recipient_user: Mapped[Optional[User]] = relationship(User, foreign_keys=[recipient_user_id])
    from_addr: Mapped[Optional[str]] = mapped_column(String(254))
    to_addr: Mapped[str] = mapped_column(String(254), index=True)
    subject: Mapped[Optional[str]] = mapped_column(String(300))  # e-mail
    body: Mapped[str] = mapped_column(Text, default="")
    template_id: Mapped[Optional[int]] = mapped_column(ForeignKey("message_template.id", ondelete="RESTRICT"))
    template: Mapped[Optional[MessageTemplate]] = relationship(MessageTemplate)
    template_variables: Mapped[Optional[dict]] = mapped_column(JSON)
    provider_sid: Mapped[Optional[str]] = mapped_column(String(64), unique=True)
    idempotency_key: Mapped[Optional[str]] = mapped_column(String(160), unique=True)
    status: Mapped[str] = mapped_column(String(15), default="pending")  # received for inbound
    error_code: Mapped[Optional[str]] = mapped_column(String(20))
    error_message: Mapped[Optional[str]] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    ref_type: Mapped[Optional[str]] = mapped_column(String(40))  # what sent it: alert, ticket, job...
    ref_id: Mapped[Optional[int]] = mapped_column()
    # classification of an inbound message (same classifier and routing table as customer requests)
    category: Mapped[Optional[str]] = mapped_column(String(30))
    urgency: Mapped[Optional[str]] = mapped_column(String(10))
    department: Mapped[Optional[str]] = mapped_column(String(40))
    priority: Mapped[Optional[str]] = mapped_column(String(10))
    summary: Mapped[Optional[str]] = mapped_column(String(300))
    classifier: Mapped[Optional[str]] = mapped_column(String(80))
    classified_at: Mapped[Optional[datetime]] = mapped_column()
    request_id: Mapped[Optional[int]] = mapped_column(ForeignKey("customer_request.id", ondelete="RESTRICT"))
    ticket_id: Mapped[Optional[int]] = mapped_column(ForeignKey("support_ticket.id", ondelete="RESTRICT"))
    created_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    created_by: Mapped[Optional[User]] = relationship(User, foreign_keys=[created_by_id])
    created_at: Mapped[datetime] = created_at_column()
    sent_at: Mapped[Optional[datetime]] = mapped_column()
    delivered_at: Mapped[Optional[datetime]] = mapped_column()
    read_at: Mapped[Optional[datetime]] = mapped_column()
    status_at: Mapped[Optional[datetime]] = mapped_column()
    media: Mapped[list["MessageMedia"]] = relationship(back_populates="message", order_by="MessageMedia.idx", passive_deletes="all")

    __table_args__ = (
        Index("ix_message_conversation_created", "conversation_id", "created_at"),
        Index("ix_message_from_direction", "from_addr", "direction", "created_at"),
    )

    def __repr__(self) -> str:
        return f"Message #{self.id}"


class MessageMedia(Model):
    """An attachment of an inbound message; downloaded by a task, its row exists before the download."""

    __tablename__ = "message_media"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id", ondelete="RESTRICT"))
    message: Mapped[Message] = relationship(back_populates="media")
    idx: Mapped[int] = mapped_column()
    url: Mapped[str] = mapped_column(String(1000))
    content_type: Mapped[Optional[str]] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending | stored | rejected | failed
    size: Mapped[Optional[int]] = mapped_column()
    path: Mapped[Optional[str]] = mapped_column(String(300))  # relative to UPLOAD_DIR
    error: Mapped[Optional[str]] = mapped_column(String(300))
    attempts: Mapped[int] = mapped_column(default=0)

    __table_args__ = (UniqueConstraint("message_id", "idx", name="uq_message_media_idx"),)


class MessageStatusEvent(Model):
    """Every delivery status callback, once per (sid, status): a callback that beats our own commit
    of the SID is kept here and applied when the SID is recorded."""

    __tablename__ = "message_status_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    provider_sid: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(15))
    error_code: Mapped[Optional[str]] = mapped_column(String(20))
    received_at: Mapped[datetime] = created_at_column()

    __table_args__ = (UniqueConstraint("provider_sid", "status", name="uq_message_status_event"),)


notification_group_member = Table(
    "notification_group_member",
    Model.metadata,
    Column("group_id", Integer, ForeignKey("notification_group.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True),
)


class NotificationGroup(Model):
    """People alerted together (WhatsApp has no group API for businesses: each member gets their own)."""

    __tablename__ = "notification_group"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[Optional[str]] = mapped_column(Text)
    whatsapp: Mapped[bool] = mapped_column(default=True)  # also send WhatsApp, not only in-app
    active: Mapped[bool] = mapped_column(default=True)
    members: Mapped[list[User]] = relationship(User, secondary=notification_group_member)

    def __repr__(self) -> str:
        return self.name


class Alert(Model):
    """One alert sent to a group: what triggered it, who got it, and how it was resolved."""

    __tablename__ = "alert"
    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("notification_group.id", ondelete="RESTRICT"), index=True)
    group: Mapped[NotificationGroup] = relationship(NotificationGroup)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[Optional[str]] = mapped_column(Text)
    ref_type: Mapped[Optional[str]] = mapped_column(String(40))
    ref_id: Mapped[Optional[str]] = mapped_column(String(60))
    dedupe_key: Mapped[Optional[str]] = mapped_column(String(200))
    dedupe_slot: Mapped[Optional[int]] = mapped_column()  # window number: the race guard of dedupe_key
    repeat_count: Mapped[int] = mapped_column(default=0)  # triggers swallowed by de-duplication
    last_repeat_at: Mapped[Optional[datetime]] = mapped_column()
    created_at: Mapped[datetime] = created_at_column()
    resolved_at: Mapped[Optional[datetime]] = mapped_column()
    resolved_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ab_user.id", ondelete="SET NULL"))
    resolved_by: Mapped[Optional[User]] = relationship(User, foreign_keys=[resolved_by_id])
    resolution: Mapped[Optional[str]] = mapped_column(Text)
    recipients: Mapped[list["AlertRecipient"]] = relationship(back_populates="alert", order_by="AlertRecipient.id", passive_deletes="all")

    __table_args__ = (
        UniqueConstraint("dedupe_key", "dedupe_slot", name="uq_alert_dedupe"),
        Index("ix_alert_dedupe_created", "dedupe_key", "created_at"),
    )

    @property
    def resolved(self) -> bool:
        return self.resolved_at is not None

    def __repr__(self) -> str:
        return f"Alert #{self.id}: {self.title}"


class AlertRecipient(Model):
    """Who got an alert, through which channels; delivery status is the WhatsApp message's."""

    __tablename__ = "alert_recipient"
    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id", ondelete="RESTRICT"))
    alert: Mapped[Alert] = relationship(back_populates="recipients")
    user_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id", ondelete="CASCADE"))
    user: Mapped[User] = relationship(User)
    notification_id: Mapped[Optional[int]] = mapped_column(ForeignKey("notification.id", ondelete="SET NULL"))
    message_id: Mapped[Optional[int]] = mapped_column(ForeignKey("message.id", ondelete="RESTRICT"))
    message: Mapped[Optional[Message]] = relationship(Message)

    __table_args__ = (UniqueConstraint("alert_id", "user_id", name="uq_alert_recipient"),)

    @property
    def delivery_status(self) -> str:
        return self.message.status if self.message else "in-app only"
