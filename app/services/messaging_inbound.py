"""Inbound WhatsApp: receiving a message (idempotent on the provider's MessageSid), classifying it,
and turning it into a customer request or a ticket.

Services flush; the caller commits.
"""
from __future__ import annotations

from typing import Optional

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.messaging import (
    Message, MessageMedia,
)
from app.services import Conflict, NotFound
from app.services.outbox import enqueue_after_commit
from app.services.messaging import _phone, _text
from app.services.messaging_conversations import _customer_for_phone, _touch, conversation_for, get_message
from app.services.classification import classify
from app.services.notifications import notify_user
from app.services.support import ROUTING, department_by_name, least_loaded_member
from app.services.support_requests import create_request
from app.models.support import Ticket
from app.services.support_tickets import open_ticket


def receive_whatsapp(session: Session, params: dict) -> tuple[Message, bool]:
    """Store one inbound message from Twilio's webhook (already signature-checked): once per
    MessageSid, linked to the customer by phone or to a new contact, media rows pending download.
    Returns (message, created). Commits; queues classification and media downloads after commit."""
    sid = _text(params.get("MessageSid") or params.get("SmsMessageSid"), "MessageSid", 64, required=True)
    existing = session.scalar(select(Message).where(Message.provider_sid == sid))
    if existing is not None:
        return existing, False
    phone = _phone(params.get("From"), "From")
    customer = _customer_for_phone(session, phone, params.get("ProfileName"))
    conversation = conversation_for(session, customer, phone)
    now = utcnow()
    message = Message(
        channel="whatsapp", direction="inbound", conversation_id=conversation.id, customer_id=customer.id,
        from_addr=phone, to_addr=str(params.get("To") or "").replace("whatsapp:", "")[:254] or "-",
        body=str(params.get("Body") or "")[:5000], provider_sid=sid, status="received", created_at=now, status_at=now,
    )
    try:
        num_media = max(0, min(int(params.get("NumMedia") or 0), 10))
    except ValueError:
        num_media = 0
    for idx in range(num_media):
        url = params.get(f"MediaUrl{idx}")
        if url:
            message.media.append(MessageMedia(
                idx=idx, url=str(url)[:1000], content_type=str(params.get(f"MediaContentType{idx}") or "")[:100] or None,
            ))
    try:
        with session.begin_nested():
            session.add(message)
    except IntegrityError:  # Twilio's retry raced the first delivery
        return session.scalar(select(Message).where(Message.provider_sid == sid)), False
    conversation.unread_count = (conversation.unread_count or 0) + 1
    conversation.last_inbound_at = now
    if conversation.status == "resolved":  # the customer wrote again: back in the inbox
        conversation.status, conversation.resolved_at, conversation.resolved_by_id = "open", None, None
    _touch(conversation, message)
    message_id = message.id
    if message.body.strip():
        enqueue_after_commit(session, "messaging.classify_message", message_id)
    for media in message.media:
        enqueue_after_commit(session, "messaging.download_media", media.id)
    session.commit()
    return message, True


def classify_message(session: Session, message_id: int, force: bool = False) -> Optional[Message]:
    """Classify an inbound message like a customer request and route its conversation (caller commits)."""
    message = session.get(Message, int(message_id))
    if message is None or message.direction != "inbound":
        return message
    if message.classified_at is None or force:
        result = classify(message.body)
        message.category, message.urgency, message.department = result.category, result.urgency, result.department
        message.summary, message.classifier, message.classified_at = result.summary[:300], result.classifier, utcnow()
    department_name, priority = ROUTING[(message.category, message.urgency)]
    message.priority = priority
    conversation = message.conversation
    if conversation is None:
        return message
    conversation.department, conversation.priority = department_name, priority
    if conversation.assignee_id is None and conversation.status == "open":
        department = department_by_name(session, department_name)
        member = least_loaded_member(session, department.id, works="WhatsAppInbox") if department else None
        if member is not None:
            conversation.assignee_id = member.user_id
            notify_user(session, member.user_id, "whatsapp_message",
                        f"New WhatsApp from {conversation.customer.name} ({message.category}, {priority})",
                        body=message.summary, link=f"/messaging/conversations/{conversation.id}",
                        ref_type="conversation", ref_id=conversation.id)
    return message


def message_to_request(session: Session, message_id: int, by_user_id: Optional[int]):
    """Turn an inbound message into a Support desk customer request (idempotent per MessageSid)."""
    message = get_message(session, message_id, by_user_id)
    if message.direction != "inbound":
        raise Conflict("only a customer's message can become a request")
    request = create_request(
        session, text=message.body or "(attachment only)", channel="whatsapp", customer_id=message.customer_id,
        phone=message.from_addr, created_by=by_user_id, source_ref=message.provider_sid,
    )
    message.request_id = request.id
    return request


def message_to_ticket(session: Session, message_id: int, by_user_id: Optional[int]):
    """Open a Support desk ticket for an inbound message (idempotent: its ticket is returned).
    Returns (ticket, created)."""
    message = session.scalar(select(Message).where(Message.id == int(message_id)).with_for_update())
    if message is None:
        raise NotFound(f"message {message_id} not found")
    get_message(session, message.id, by_user_id)
    if message.direction != "inbound":
        raise Conflict("only a customer's message can become a ticket")
    if message.ticket_id is not None:
        return session.get(Ticket, message.ticket_id), False
    department = department_by_name(session, message.department) if message.department else None
    text = message.body or "(attachment only)"
    ticket = open_ticket(
        session, title=f"WhatsApp: {(message.summary or text)[:180]}", description=text,
        priority=message.priority or "Medium", category=message.category, customer_id=message.customer_id,
        department_id=department.id if department else None, created_by=by_user_id,
    )
    message.ticket_id = ticket.id
    return ticket, True

