"""Outbound WhatsApp and e-mail: the one send service (a row now, the provider call by a Celery task
after the commit, at most once per idempotency key), delivery and status callbacks, the outbox sweep.

Services flush; the caller commits.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Optional

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.customers import Customer
from app.models.messaging import (
    STATUS_RANK, Message, MessageStatusEvent,
)
from app.services import Conflict, InvalidInput, NotFound, get_or_404
from app.services.messaging_providers import keep_unsent, not_configured_reason
from app.services.outbox import enqueue_after_commit
from app.services.phones import try_e164
from app.services.messaging import (
    DELIVERY_STATUSES, TransientSendError, _idempotency_key, _phone, _template, _text,
    find_by_idempotency_key, render_template_body, window_is_open,
)
from app.services.messaging_conversations import _touch, conversation_for, get_conversation
from app.integrations import twilio_client
import smtplib
import requests
from app.integrations.email import SmtpRefused, send_mail
from app.integrations.twilio_client import TwilioRestException
from app.services.customers import find_by_phone
import json


def _store_outbound(session: Session, message: Message, key: str) -> Message:
    unsent = not_configured_reason(message.channel)
    if unsent:  # kept once as "not sent: ... not configured", with nothing queued to retry
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
    customer = get_or_404(session, Customer, customer_id, "customer")
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

