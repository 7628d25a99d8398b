"""Phone numbers: one normalisation (E.164, via `phonenumbers`) for every module."""
from __future__ import annotations

from typing import Optional

import phonenumbers
from flask import current_app, has_app_context

from app.services import InvalidInput


def default_region() -> str:
    return current_app.config["DEFAULT_PHONE_REGION"] if has_app_context() else "LK"


def to_e164(raw: str, region: Optional[str] = None) -> str:
    """'077 123 4567', '+94771234567', '0094 77 123 4567' -> '+94771234567'; InvalidInput otherwise."""
    text = (raw or "").strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    if text.lower().startswith("whatsapp:"):
        text = text.split(":", 1)[1]
    try:
        number = phonenumbers.parse(text, region or default_region())
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(f"'{raw}' is not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput(f"'{raw}' is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def try_e164(raw: Optional[str], region: Optional[str] = None) -> Optional[str]:
    """Like to_e164, but None for anything that is not a valid number."""
    try:
        return to_e164(raw or "", region)
    except InvalidInput:
        return None
