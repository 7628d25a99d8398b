"""Messaging rules shared by the inbox and the send service: WhatsApp's 24-hour rule, templates,
input checks. Conversations live in `messaging_conversations`, inbound messages in
`messaging_inbound`, the send service and delivery in `messaging_outbound`.

Entry points other modules call (each takes a session; the caller commits; the provider call is
made by a Celery task once the caller commits, at most once per idempotency key):
- `messaging_outbound.send_whatsapp(session, *, to, body=None, template=None, variables=None, customer_id=None,
  idempotency_key, created_by=None, recipient_user_id=None, ref_type=None, ref_id=None) -> Message`
- `messaging_outbound.send_email(session, *, to, subject, body, idempotency_key, customer_id=None, created_by=None,
  recipient_user_id=None, ref_type=None, ref_id=None) -> Message`
- `messaging_outbound.notify_customer_whatsapp(session, customer_id, *, idempotency_key, body=None, template=None,
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
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.messaging import (
    Conversation, Message, MessageTemplate,
)
from app.services import Conflict, InvalidInput, NotFound
from app.services.phones import try_e164


log = logging.getLogger(__name__)

DELIVERY_STATUSES = ("queued", "sent", "delivered", "read", "failed", "undelivered", "accepted", "scheduled", "canceled")
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


class TransientSendError(Exception):
    """The provider or the network failed in a way worth retrying (the task retries with backoff)."""


# --- helpers ---------------------------------------------------------------------------------


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

