"""Messaging rules: the WhatsApp inbox (inbound, conversations), the one send service for WhatsApp
and e-mail, delivery status, and WhatsApp's 24-hour rule.

Entry points other modules call (each takes a session; the caller commits; the provider call is
made by a Celery task once the caller commits, at most once per idempotency key):
- `send_whatsapp(session, *, to, body=None, template=None, variables=None, customer_id=None,
  idempotency_key, created_by=None, recipient_user_id=None, ref_type=None, ref_id=None) -> Message`
- `send_email(session, *, to, subject, body, idempotency_key, customer_id=None, created_by=None,
  recipient_user_id=None, ref_type=None, ref_id=None) -> Message`
- `notify_customer_whatsapp(session, customer_id, *, idempotency_key, body=None, template=None,
  variables=None, ref_type=None, ref_id=None, created_by=None) -> Message`: free text inside the
  customer's 24-hour window, the template otherwise (what Installations uses for delays and
  confirmations).
- Alerts to groups of people: `app.services.messaging_alerts.alert_group(...)`.

Decision: each inbound message is classified (category, urgency, department, summary) by
`app.services.classification.classify` in a Celery task and routed with the Support desk's own
routing table (`support.ROUTING` and `support.least_loaded_member`): the message carries the
classification and priority, and an unassigned conversation goes to the least-loaded member of that
department. A message becomes a customer request (or a ticket) when an agent says so, in one click,
so "thanks!" does not land in the request queue.
"""
from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any, Optional

from flask import current_app
from sqlalchemy import false, func, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, selectinload

from app.models.base import utcnow
from app.models.customers import Customer
from app.models.messaging import (
    FINAL_STATUSES, STATUS_RANK, Conversation, Message, MessageMedia, MessageStatusEvent, MessageTemplate,
)
from app.services import Conflict, InvalidInput, NotFound
from app.services.outbox import enqueue_after_commit
from app.services.people import DepartmentScope, department_scope, user_may_work
from app.services.phones import try_e164

log = logging.getLogger(__name__)

DELIVERY_STATUSES = ("queued", "sent", "delivered", "read", "failed", "undelivered", "accepted", "scheduled", "canceled")
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


class TransientSendError(Exception):
    """The provider or the network failed in a way worth retrying (the task retries with backoff)."""


# --- helpers ---------------------------------------------------------------------------------


def _get(session: Session, model, obj_id: Any, what: str):
    try:
        obj = session.get(model, int(obj_id))
    except (TypeError, ValueError):
        raise InvalidInput(f"{what} id must be a number") from None
    if obj is None:
        raise NotFound(f"{what} {obj_id} not found")
    return obj


# --- department scope: a conversation belongs to the department its latest classified message was
# routed to; departments holding "whatsapp" work the whole inbox (app.services.people) ---------------


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
    conversation = _get(session, Conversation, conversation_id, "conversation")
    if viewer is not None:
        scope = department_scope(session, viewer)
        if not scope.everything and session.scalar(
            select(Conversation.id).where(Conversation.id == conversation.id, conversations_in_scope(scope))
        ) is None:
            raise NotFound(f"conversation {conversation_id} not found")
    return conversation


def get_message(session: Session, message_id: Any, viewer: Optional[int] = None) -> Message:
    message = _get(session, Message, message_id, "message")
    if viewer is not None and message.conversation_id is not None:
        try:
            get_conversation(session, message.conversation_id, viewer)
        except NotFound:
            raise NotFound(f"message {message_id} not found") from None
    return message


def _text(value: Any, field: str, max_len: int, required: bool = False) -> Optional[str]:
    text = str(value).strip() if value is not None else ""
    if not text:
        if required:
            raise InvalidInput(f"{field} is required")
        return None
    if len(text) > max_len:
        raise InvalidInput(f"{field} is longer than {max_len} characters")
    return text


def _phone(raw: Any, field: str = "to") -> str:
    e164 = try_e164(str(raw or ""))
    if e164 is None:
        raise InvalidInput(f"{field}: '{raw}' is not a valid phone number")
    return e164


def _idempotency_key(value: Any) -> str:
    return _text(value, "idempotency_key", 160, required=True)


def find_by_idempotency_key(session: Session, key: str) -> Optional[Message]:
    return session.scalar(select(Message).where(Message.idempotency_key == key))


# --- the 24-hour rule -----------------------------------------------------------------------


def last_inbound_at(session: Session, phone: str) -> Optional[datetime]:
    return session.scalar(
        select(func.max(Message.created_at)).where(
            Message.channel == "whatsapp", Message.direction == "inbound", Message.from_addr == phone
        )
    )


def window_closes_at(session: Session, phone: str) -> Optional[datetime]:
    """When the customer's free-text window closes (None: no inbound message ever)."""
    return _closes(last_inbound_at(session, phone))


def _closes(last: Optional[datetime]) -> Optional[datetime]:
    return last + timedelta(hours=current_app.config["MESSAGING_WINDOW_HOURS"]) if last else None


def window_is_open(session: Session, target: "Conversation | str", now: Optional[datetime] = None) -> bool:
    """Whether free text may be sent to this phone (or conversation's phone) now: the one rule that
    send_whatsapp enforces and the screens display."""
    phone = target.phone if isinstance(target, Conversation) else target
    return windows_open(session, [phone], now).get(phone, False)


def windows_open(session: Session, phones: list[str], now: Optional[datetime] = None) -> dict[str, bool]:
    """window_is_open for many phones in one query (the inbox list): {phone: open}."""
    phones = sorted({p for p in phones if p})
    if not phones:
        return {}
    last = dict(session.execute(
        select(Message.from_addr, func.max(Message.created_at)).where(
            Message.channel == "whatsapp", Message.direction == "inbound", Message.from_addr.in_(phones)
        ).group_by(Message.from_addr)
    ).all())
    now = now or utcnow()
    result = {}
    for phone in phones:
        closes = _closes(last.get(phone))
        result[phone] = closes is not None and now < closes
    return result


# --- templates --------------------------------------------------------------------------------


def approved_templates(session: Session) -> list[MessageTemplate]:
    return list(session.scalars(
        select(MessageTemplate).where(MessageTemplate.approved.is_(True), MessageTemplate.active.is_(True))
        .order_by(MessageTemplate.name)
    ))


def render_template_body(template: MessageTemplate, variables: Optional[dict]) -> str:
    """The template's text with every {{name}} filled; a missing variable is InvalidInput."""
    variables = {str(k): v for k, v in (variables or {}).items()}
    needed = template.variable_names() or _PLACEHOLDER.findall(template.body)
    missing = [name for name in needed if str(variables.get(name, "")).strip() == ""]
    if missing:
        raise InvalidInput(f"template {template.code} needs {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda m: str(variables.get(m.group(1), "")), template.body)


def _template(session: Session, code: Any) -> MessageTemplate:
    template = session.scalar(select(MessageTemplate).where(MessageTemplate.code == str(code)))
    if template is None:
        raise NotFound(f"template {code} not found")
    if not template.approved or not template.active:
        raise Conflict(f"template {code} is not an approved, active template")
    return template


# --- conversations ----------------------------------------------------------------------------


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
    from app.services.customers import create_customer, find_by_phone

    customer = find_by_phone(session, phone)
    if customer is not None:
        return customer
    # No savepoint: create_customer reads before it writes, and on SQLite a read inside a SAVEPOINT
    # pins a snapshot that makes the write fail with "database is locked" when a worker committed in
    # between. create_customer answers a concurrent save of the number with Conflict (rolling back;
    # nothing of this webhook is pending yet).
    try:
        customer = create_customer(
            session, {"name": (profile_name or "").strip()[:120] or f"WhatsApp {phone}", "phone": phone}
        )
    except (IntegrityError, Conflict):  # created by a concurrent message from the same number
        customer = find_by_phone(session, phone)
    return customer


def _touch(conversation: Conversation, message: Message) -> None:
    conversation.last_message_at = message.created_at
    preview = message.body or (f"[{len(message.media)} attachment(s)]" if message.media else "")
    conversation.last_preview = ("← " if message.direction == "outbound" else "") + preview[:190]


def list_conversations(session: Session, *, box: str = "open", user_id: Optional[int] = None,
                       limit: int = 100, viewer: Optional[int] = None) -> list[Conversation]:
    """The inbox, newest activity first. box: open | unread | mine | unassigned | resolved | all.
    viewer limits it to that person's department scope."""
    query = select(Conversation).options(joinedload(Conversation.customer), joinedload(Conversation.assignee))
    if viewer is not None:
        query = query.where(scope_clause(session, Conversation, viewer))
    if box == "open":
        query = query.where(Conversation.status == "open")
    elif box == "unread":
        query = query.where(Conversation.unread_count > 0)
    elif box == "mine":
        query = query.where(Conversation.assignee_id == user_id, Conversation.status == "open")
    elif box == "unassigned":
        query = query.where(Conversation.assignee_id.is_(None), Conversation.status == "open")
    elif box == "resolved":
        query = query.where(Conversation.status == "resolved")
    elif box != "all":
        raise InvalidInput(f"unknown inbox filter {box}")
    return list(session.scalars(query.order_by(Conversation.last_message_at.desc(), Conversation.id.desc()).limit(limit)))


def history(session: Session, conversation_id: int) -> list[Message]:
    return list(session.scalars(
        select(Message).where(Message.conversation_id == conversation_id)
        .options(selectinload(Message.media), joinedload(Message.template), joinedload(Message.created_by))
        .order_by(Message.created_at, Message.id)
    ))


def recent_customer_messages(session: Session, customer_id: int, limit: int = 20) -> list[Message]:
    """The customer's latest WhatsApp messages and e-mails, newest first (the customer page panel)."""
    return list(session.scalars(
        select(Message).where(Message.customer_id == customer_id)
        .order_by(Message.created_at.desc(), Message.id.desc()).limit(limit)
    ))


def mark_conversation_read(session: Session, conversation_id: int) -> Conversation:
    conversation = _get(session, Conversation, conversation_id, "conversation")
    conversation.unread_count = 0
    return conversation


def assign_conversation(session: Session, conversation_id: int, assignee_id: Any, by_user_id: Optional[int]) -> Conversation:
    from flask_appbuilder.security.sqla.models import User

    from app.services.notifications import notify_user
    from app.services.people import record_activity

    conversation = get_conversation(session, conversation_id, by_user_id)
    if assignee_id in (None, ""):
        conversation.assignee_id = None
        return conversation
    user = _get(session, User, assignee_id, "user")
    if not user_may_work(session, user.id, "WhatsAppInbox"):
        raise InvalidInput(f"assignee_id: {user.username} cannot work the WhatsApp inbox")
    if conversation.assignee_id != user.id:
        conversation.assignee_id = user.id
        if user.id != by_user_id:
            notify_user(session, user.id, "whatsapp_assigned",
                        f"WhatsApp conversation with {conversation.customer.name} assigned to you",
                        body=conversation.last_preview, link=f"/messaging/conversations/{conversation.id}",
                        ref_type="conversation", ref_id=conversation.id)
        if by_user_id:
            record_activity(session, by_user_id, "whatsapp_assign",
                            f"Assigned conversation #{conversation.id} to {user.username}",
                            ref_type="conversation", ref_id=conversation.id)
    return conversation


def resolve_conversation(session: Session, conversation_id: int, by_user_id: Optional[int]) -> Conversation:
    conversation = get_conversation(session, conversation_id, by_user_id)
    if conversation.status == "resolved":
        raise Conflict(f"conversation {conversation.id} is already resolved")
    conversation.status = "resolved"
    conversation.resolved_at = utcnow()
    conversation.resolved_by_id = by_user_id
    conversation.unread_count = 0
    return conversation


def reopen_conversation(session: Session, conversation_id: int, by_user_id: Optional[int] = None) -> Conversation:
    conversation = get_conversation(session, conversation_id, by_user_id)
    conversation.status = "open"
    conversation.resolved_at = None
    conversation.resolved_by_id = None
    return conversation


# --- inbound ---------------------------------------------------------------------------------


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
    from app.services.classification import classify
    from app.services.notifications import notify_user
    from app.services.support import ROUTING, department_by_name, least_loaded_member

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
    from app.services.support import create_request

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
    from app.models.support import Ticket
    from app.services.support import department_by_name, open_ticket

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


# --- outbound --------------------------------------------------------------------------------


def _store_outbound(session: Session, message: Message, key: str) -> Message:
    from app.services.messaging_providers import keep_unsent, not_configured_reason

    unsent = not_configured_reason(message.channel)
    if unsent:
        keep_unsent(message, unsent)
    try:
        with session.begin_nested():
            session.add(message)
    except IntegrityError:  # the same key, concurrently
        existing = find_by_idempotency_key(session, key)
        if existing is None:
            raise
        return existing
    if not unsent:
        enqueue_after_commit(session, "messaging.send_message", message.id)
    return message


def send_whatsapp(
    session: Session,
    *,
    to: Any,
    body: Optional[str] = None,
    template: Optional[str] = None,
    variables: Optional[dict] = None,
    customer_id: Optional[int] = None,
    idempotency_key: str,
    created_by: Optional[int] = None,
    recipient_user_id: Optional[int] = None,
    ref_type: Optional[str] = None,
    ref_id: Optional[int] = None,
) -> Message:
    """Queue one WhatsApp message; the task "messaging.send_message" sends it after the caller commits.

    - to: the number in any written form (E.164 after normalisation).
    - body: free text, allowed only inside the recipient's 24-hour window (since their last inbound
      message); outside it a Conflict (409) says to use a template.
    - template + variables: an approved template's code and its {{name}} values (always allowed).
    - idempotency_key: unique per intended message; the same key again returns the first message and
      sends nothing (the provider is called at most once per key).
    - customer_id: links it to the customer's conversation (found by phone when omitted);
      recipient_user_id: a staff member (team alerts).
    """
    key = _idempotency_key(idempotency_key)
    existing = find_by_idempotency_key(session, key)
    if existing is not None:
        return existing
    phone = _phone(to)
    if (body is None or str(body).strip() == "") == (template in (None, "")):
        raise InvalidInput("give either body (free text) or template")
    template_obj = None
    if template not in (None, ""):
        template_obj = _template(session, template)
        text = render_template_body(template_obj, variables)
    else:
        text = _text(body, "body", 4096, required=True)
        if not window_is_open(session, phone):
            raise Conflict(
                f"{phone} has not written in the last {current_app.config['MESSAGING_WINDOW_HOURS']} hours: "
                "WhatsApp allows only an approved template outside that window"
            )
    customer = session.get(Customer, int(customer_id)) if customer_id not in (None, "") else None
    if customer_id not in (None, "") and customer is None:
        raise NotFound(f"customer {customer_id} not found")
    if customer is None and recipient_user_id is None:
        from app.services.customers import find_by_phone

        customer = find_by_phone(session, phone)
    conversation = conversation_for(session, customer, phone) if customer is not None else None
    message = Message(
        channel="whatsapp", direction="outbound", to_addr=phone,
        from_addr=(current_app.config.get("TWILIO_WHATSAPP_FROM") or "").replace("whatsapp:", "") or None,
        body=text, template_id=template_obj.id if template_obj else None,
        template_variables=dict(variables or {}) if template_obj else None,
        customer_id=customer.id if customer else None, conversation_id=conversation.id if conversation else None,
        recipient_user_id=recipient_user_id, idempotency_key=key, status="pending", created_by_id=created_by,
        ref_type=ref_type, ref_id=ref_id, created_at=utcnow(), attempts=0,
    )
    stored = _store_outbound(session, message, key)
    if stored is message and conversation is not None:
        _touch(conversation, message)
    return stored


def send_email(
    session: Session,
    *,
    to: str,
    subject: str,
    body: str,
    idempotency_key: str,
    customer_id: Optional[int] = None,
    created_by: Optional[int] = None,
    recipient_user_id: Optional[int] = None,
    ref_type: Optional[str] = None,
    ref_id: Optional[int] = None,
) -> Message:
    """Queue one e-mail through SMTP_URL; same idempotency and retry rules as send_whatsapp."""
    key = _idempotency_key(idempotency_key)
    existing = find_by_idempotency_key(session, key)
    if existing is not None:
        return existing
    address = _text(to, "to", 254, required=True)
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", address):
        raise InvalidInput(f"to: '{address}' is not an e-mail address")
    message = Message(
        channel="email", direction="outbound", to_addr=address, from_addr=current_app.config["MAIL_FROM"][:254],
        subject=_text(subject, "subject", 300, required=True), body=_text(body, "body", 100000, required=True),
        customer_id=customer_id, recipient_user_id=recipient_user_id, idempotency_key=key, status="pending",
        created_by_id=created_by, ref_type=ref_type, ref_id=ref_id, created_at=utcnow(), attempts=0,
    )
    return _store_outbound(session, message, key)


def notify_customer_whatsapp(
    session: Session,
    customer_id: int,
    *,
    idempotency_key: str,
    body: Optional[str] = None,
    template: Optional[str] = None,
    variables: Optional[dict] = None,
    ref_type: Optional[str] = None,
    ref_id: Optional[int] = None,
    created_by: Optional[int] = None,
) -> Message:
    """Tell a customer something on WhatsApp (installation delays, confirmations, ...): the free
    text `body` while their 24-hour window is open, otherwise the approved `template` with
    `variables`. Conflict when only free text is given and the window is closed, or when the
    customer has no valid phone. Caller commits."""
    customer = _get(session, Customer, customer_id, "customer")
    phone = try_e164(customer.phone) if customer.phone else None
    if phone is None:
        raise Conflict(f"customer {customer.id} has no WhatsApp number")
    use_text = bool(body and str(body).strip()) and (template in (None, "") or window_is_open(session, phone))
    return send_whatsapp(
        session, to=phone, body=body if use_text else None, template=None if use_text else template,
        variables=None if use_text else variables, customer_id=customer.id, idempotency_key=idempotency_key,
        created_by=created_by, ref_type=ref_type, ref_id=ref_id,
    )


def reply(session: Session, conversation_id: int, *, by_user_id: Optional[int], idempotency_key: str,
          body: Optional[str] = None, template: Optional[str] = None, variables: Optional[dict] = None) -> Message:
    """An agent's reply from the conversation (free text in the window, a template otherwise)."""
    conversation = get_conversation(session, conversation_id, by_user_id)
    message = send_whatsapp(
        session, to=conversation.phone, body=body, template=template, variables=variables,
        customer_id=conversation.customer_id, idempotency_key=idempotency_key, created_by=by_user_id,
    )
    conversation.unread_count = 0
    if conversation.assignee_id is None and by_user_id:
        conversation.assignee_id = by_user_id
    return message


# --- delivery (what the Celery task runs) ----------------------------------------------------


def _twilio_send(message: Message) -> tuple[str, str]:
    from app.integrations import twilio_client

    config = current_app.config
    if not config.get("TWILIO_WHATSAPP_FROM"):
        raise RuntimeError("TWILIO_WHATSAPP_FROM (the WhatsApp sender number) is not set")
    client = twilio_client.make_client()
    kwargs: dict[str, Any] = {
        "to": twilio_client.whatsapp_address(message.to_addr),
        "from_": twilio_client.whatsapp_address(config["TWILIO_WHATSAPP_FROM"] or ""),
    }
    if config.get("MESSAGING_STATUS_CALLBACK"):
        kwargs["status_callback"] = config["PUBLIC_BASE_URL"].rstrip("/") + "/webhooks/twilio/status"
    template = message.template
    if template is not None and template.content_sid:
        import json

        names = template.variable_names()
        values = message.template_variables or {}
        kwargs["content_sid"] = template.content_sid
        kwargs["content_variables"] = json.dumps({str(i + 1): str(values.get(n, "")) for i, n in enumerate(names)})
    else:
        kwargs["body"] = message.body
    sent = client.messages.create(**kwargs)
    return sent.sid, (sent.status or "queued")


def _advance(message: Message, status: str, at: datetime) -> None:
    """Move the status forward only (callbacks arrive out of order); stamp the milestone."""
    if STATUS_RANK.get(status, 0) <= STATUS_RANK.get(message.status, 0):
        return
    message.status = status
    message.status_at = at
    if status == "sent" and message.sent_at is None:
        message.sent_at = at
    elif status == "delivered":
        message.delivered_at = message.delivered_at or at
        message.sent_at = message.sent_at or at
    elif status == "read":
        message.read_at = message.read_at or at
        message.delivered_at = message.delivered_at or at


def deliver_message(session: Session, message_id: int, final_attempt: bool = False) -> Optional[Message]:
    """Hand one queued message to Twilio or SMTP, at most once per message (and so per idempotency key).

    The row is claimed with a conditional UPDATE (pending/retrying -> sending): a message that already
    has a provider SID, or that another worker is sending, is never sent again. A transient failure
    (network, 5xx, 429) puts it back to "retrying" and raises TransientSendError for the task to retry
    with backoff; a permanent refusal (4xx) or the last attempt marks it failed. Commits.
    """
    import smtplib

    import requests

    from app.integrations.email import SmtpRefused, send_mail
    from app.integrations.twilio_client import TwilioRestException

    claimed = session.execute(
        update(Message)
        .where(Message.id == int(message_id), Message.provider_sid.is_(None), Message.status.in_(("pending", "retrying")))
        .values(status="sending", attempts=Message.attempts + 1)
    ).rowcount
    session.commit()
    message = session.get(Message, int(message_id))
    if not claimed or message is None:
        return message
    transient: Optional[str] = None
    try:
        if message.channel == "email":
            send_mail(message.to_addr, message.subject or "", message.body, message_id=f"<{message.idempotency_key}@chargeops>")
            sid, status = None, "sent"
        else:
            sid, status = _twilio_send(message)
    except TwilioRestException as exc:
        if exc.status >= 500 or exc.status == 429:
            transient = f"Twilio {exc.status}: {exc.msg}"
        else:
            _fail(message, str(exc.code or exc.status), f"Twilio refused: {exc.msg}")
            session.commit()
            return message
    except SmtpRefused as exc:
        _fail(message, "smtp", str(exc)[:500])
        session.commit()
        return message
    except (requests.RequestException, smtplib.SMTPException, OSError) as exc:
        transient = f"{type(exc).__name__}: {exc}"
    except RuntimeError as exc:  # not configured: nothing to retry
        from app.services.messaging_providers import keep_unsent, not_configured_reason

        keep_unsent(message, not_configured_reason(message.channel) or f"not sent: {exc}")
        session.commit()
        return message
    if transient is not None:
        if final_attempt:
            _fail(message, "retries", f"gave up after {message.attempts} attempts: {transient}"[:1000])
            session.commit()
            return message
        message.status, message.error_message = "retrying", transient[:1000]
        session.commit()
        raise TransientSendError(transient)
    now = utcnow()
    message.provider_sid, message.error_code, message.error_message = sid, None, None
    _advance(message, status, now)
    if message.channel == "email":
        message.sent_at = now
    if sid:  # callbacks that beat this commit
        for event_row in session.scalars(select(MessageStatusEvent).where(MessageStatusEvent.provider_sid == sid)):
            _advance(message, event_row.status, event_row.received_at)
    session.commit()
    return message


def _fail(message: Message, code: str, text: str) -> None:
    message.status, message.error_code, message.error_message, message.status_at = "failed", code[:20], text, utcnow()


def record_status(session: Session, params: dict) -> Optional[Message]:
    """Apply one Twilio status callback (queued, sent, delivered, read, failed, undelivered).
    Each (sid, status) is recorded once; a callback for a SID we have not recorded yet is kept and
    applied when the send task records it. Commits."""
    sid = _text(params.get("MessageSid") or params.get("SmsSid"), "MessageSid", 64, required=True)
    status = str(params.get("MessageStatus") or params.get("SmsStatus") or "").strip().lower()
    if status not in DELIVERY_STATUSES:
        raise InvalidInput(f"unknown MessageStatus {status!r}")
    error_code = _text(params.get("ErrorCode"), "ErrorCode", 20)
    try:
        with session.begin_nested():
            session.add(MessageStatusEvent(provider_sid=sid, status=status, error_code=error_code))
    except IntegrityError:
        pass  # Twilio retried the callback
    message = session.scalar(select(Message).where(Message.provider_sid == sid))
    if message is not None:
        _advance(message, status, utcnow())
        if status in ("failed", "undelivered") and error_code:
            message.error_code = error_code
            message.error_message = message.error_message or f"Twilio error {error_code}"
    session.commit()
    return message


def sweep_outbox(session: Session, now: Optional[datetime] = None) -> dict:
    """The beat's safety net. Re-queues messages still "pending" after 5 minutes (a backstop: the outbox
    hands every send over within a second; the atomic claim makes a double queue harmless). Marks messages stuck
    in "sending" for 15 minutes as failed with a note, never resending them: the worker died during
    the provider call, so only a person can tell whether it went out. Commits."""
    now = now or utcnow()
    pending = list(session.scalars(
        select(Message.id).where(Message.status == "pending", Message.direction == "outbound",
                                 Message.created_at < now - timedelta(minutes=5)).limit(500)
    ))
    stuck = session.execute(
        update(Message)
        .where(Message.status == "sending", Message.provider_sid.is_(None), Message.created_at < now - timedelta(minutes=15))
        .values(status="failed", error_code="unknown", status_at=now,
                error_message="the worker stopped during the provider call: check the provider before sending again")
    ).rowcount
    for message_id in pending:  # a second row for a queued one is harmless: the send claims the message
        enqueue_after_commit(session, "messaging.send_message", message_id)
    session.commit()
    return {"requeued": len(pending), "stuck": stuck}


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
        "created_at": message.created_at.isoformat() if message.created_at else None,
        "delivered_at": message.delivered_at.isoformat() if message.delivered_at else None,
        "media": [{"id": m.id, "content_type": m.content_type, "status": m.status, "size": m.size, "error": m.error}
                  for m in message.media],
        "final": message.status in FINAL_STATUSES,
    }
