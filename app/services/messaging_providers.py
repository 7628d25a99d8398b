"""Is a provider configured? Without it a message is kept, once, as "not sent: ... not configured".

No task is queued for such a message (nothing to retry, nothing to log per send): the inbox shows it
failed with that reason, and the log says it once per process."""
from __future__ import annotations

import logging
from typing import Optional

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.messaging import Message

log = logging.getLogger("chargeops.messaging")
WHATSAPP_SETTINGS = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_WHATSAPP_FROM")
NOT_CONFIGURED_CODE = "not_configured"
_said: set[str] = set()


def whatsapp_missing() -> list[str]:
    return [name for name in WHATSAPP_SETTINGS if not current_app.config.get(name)]


def not_configured_reason(channel: str) -> Optional[str]:
    """Why a message on `channel` cannot go out (None: it can)."""
    if channel == "whatsapp" and whatsapp_missing():
        return "not sent: WhatsApp not configured"
    return None


def keep_unsent(message: Message, reason: str) -> Message:
    """The message stays, failed with the reason; said once in the log."""
    message.status, message.error_code, message.error_message, message.status_at = "failed", NOT_CONFIGURED_CODE, reason, utcnow()
    if reason not in _said:
        _said.add(reason)
        log.warning("%s (set %s): messages are kept as unsent", reason, ", ".join(whatsapp_missing()) or "the provider")
    return message


def last_outbound(session: Session, conversation_ids: list[int]) -> dict[int, Message]:
    """Each conversation's latest outbound message (for the inbox's send column)."""
    if not conversation_ids:
        return {}
    latest: dict[int, Message] = {}
    for message in session.scalars(
        select(Message).where(Message.conversation_id.in_(conversation_ids), Message.direction == "outbound")
        .order_by(Message.conversation_id, Message.created_at)
    ):
        latest[message.conversation_id] = message
    return latest
