"""WhatsApp conversations: who may see them, one per customer and phone, the inbox lists, assignment,
resolving and reopening.

Services flush; the caller commits.
"""
from __future__ import annotations

from typing import Any, Optional

from sqlalchemy import false, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.customers import Customer
from app.models.messaging import (
    FINAL_STATUSES, Conversation, Message,
)
from app.services import Conflict, NotFound, get_or_404, iso_utc
from app.services.people import DepartmentScope, department_scope
from app.services import customers


def conversations_in_scope(scope: DepartmentScope):
    """A WHERE clause: the conversations this scope sees (assigned to them, or routed to their department)."""
    if scope.holds("whatsapp"):
        return true()
    terms = []
    if scope.user_id is not None:
        terms.append(Conversation.assignee_id == scope.user_id)
    if scope.department is not None:
        terms.append(Conversation.department == scope.department)
    return or_(*terms) if terms else false()


def messages_in_scope(scope: DepartmentScope):
    """A WHERE clause: messages of conversations in scope; messages outside any conversation are not scoped."""
    if scope.holds("whatsapp"):
        return true()
    return or_(Message.conversation_id.is_(None),
               Message.conversation_id.in_(select(Conversation.id).where(conversations_in_scope(scope))))


def scope_clause(session: Session, model, user) -> Any:
    """The WHERE clause of Conversation or Message rows that `user` (a User or id) may see."""
    scope = department_scope(session, user)
    return conversations_in_scope(scope) if model is Conversation else messages_in_scope(scope)


def get_conversation(session: Session, conversation_id: Any, viewer: Optional[int] = None) -> Conversation:
    """The conversation; NotFound when it does not exist or is outside the viewer's department scope."""
    conversation = get_or_404(session, Conversation, conversation_id, "conversation")
    if viewer is not None:
        scope = department_scope(session, viewer)
        if not scope.everything and session.scalar(
            select(Conversation.id).where(Conversation.id == conversation.id, conversations_in_scope(scope))
        ) is None:
            raise NotFound(f"conversation {conversation_id} not found")
    return conversation


def get_message(session: Session, message_id: Any, viewer: Optional[int] = None) -> Message:
    message = get_or_404(session, Message, message_id, "message")
    if viewer is not None and message.conversation_id is not None:
        try:
            get_conversation(session, message.conversation_id, viewer)
        except NotFound:
            raise NotFound(f"message {message_id} not found") from None
    return message


def conversation_for(session: Session, customer: Customer, phone: str) -> Conversation:
    """The customer's conversation, created on first contact (customer_id is unique)."""
    conversation = session.scalar(select(Conversation).where(Conversation.customer_id == customer.id))
    if conversation is not None:
        return conversation
    try:
        with session.begin_nested():
            conversation = Conversation(customer_id=customer.id, phone=phone, status="open", unread_count=0,
                                        last_message_at=utcnow())
            session.add(conversation)
    except IntegrityError:  # a concurrent first message created it
        conversation = session.scalar(select(Conversation).where(Conversation.customer_id == customer.id))
    return conversation


def _customer_for_phone(session: Session, phone: str, profile_name: Optional[str]) -> Customer:
    """The customer with this number, or a new contact made by Contacts' create_customer (phone row,
    wallet) on first contact."""
    customer = customers.find_by_phone(session, phone)
    if customer is not None:
        return customer
    # No savepoint: create_customer reads before it writes, and on SQLite a read inside a SAVEPOINT
    # pins a snapshot that makes the write fail with "database is locked" when a worker committed in
    # between. create_customer answers a concurrent save of the number with Conflict (rolling back;
    # nothing of this webhook is pending yet).
    try:
        customer = customers.create_customer(
            session, {"name": (profile_name or "").strip()[:120] or f"WhatsApp {phone}", "phone": phone}
        )
    except (IntegrityError, Conflict):  # created by a concurrent message from the same number
        customer = customers.find_by_phone(session, phone)
    return customer


def _touch(conversation: Conversation, message: Message) -> None:
    conversation.last_message_at = message.created_at
    preview = message.body or (f"[{len(message.media)} attachment(s)]" if message.media else "")
    conversation.last_preview = ("← " if message.direction == "outbound" else "") + preview[:190]


def message_json(message: Message) -> dict:
    return {
        "id": message.id, "channel": message.channel, "direction": message.direction, "to": message.to_addr,
        "from": message.from_addr, "body": message.body, "subject": message.subject, "status": message.status,
        "error_code": message.error_code, "error_message": message.error_message,
        "template": message.template.code if message.template else None,
        "customer_id": message.customer_id, "conversation_id": message.conversation_id,
        "provider_sid": message.provider_sid, "idempotency_key": message.idempotency_key,
        "category": message.category, "urgency": message.urgency, "department": message.department,
        "priority": message.priority, "summary": message.summary, "request_id": message.request_id,
        "ticket_id": message.ticket_id, "attempts": message.attempts,
        "created_at": iso_utc(message.created_at),
        "delivered_at": iso_utc(message.delivered_at),
        "media": [{"id": m.id, "content_type": m.content_type, "status": m.status, "size": m.size, "error": m.error}
                  for m in message.media],
        "final": message.status in FINAL_STATUSES,
    }

