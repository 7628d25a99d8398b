"""How times, dates and money read on every screen, export and report: one home for the rules.

Storage stays UTC (naive datetimes are UTC). People read local time in the configured TIMEZONE
(default Asia/Colombo), dates in the configured LOCALE's order, money as Decimal with its currency
and thousands separators. The JSON API is untouched (it speaks UTC ISO 8601, per its contract).
Templates use the filters `local_datetime`, `local_date`, `local_time`, `money`; Python code
(exports, reports, panels) calls the same functions.
"""
from __future__ import annotations

import os
import re
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Optional, Union
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from babel.numbers import format_currency, format_decimal
from flask import Flask, current_app, has_app_context

DEFAULT_TIMEZONE = "Asia/Colombo"
DEFAULT_LOCALE = "en_GB"  # English with day-first dates, as written in Sri Lanka


def _setting(name: str, default: str) -> str:
    """The app's setting, else the environment's (reports built outside the app), else the default."""
    return (current_app.config.get(name) if has_app_context() else None) or os.environ.get(name) or default


def zone() -> ZoneInfo:
    return ZoneInfo(_setting("TIMEZONE", DEFAULT_TIMEZONE))


def locale() -> str:
    return _setting("LOCALE", DEFAULT_LOCALE)


def to_local(value: Optional[datetime]) -> Optional[datetime]:
    """A stored (UTC, naive or aware) datetime in the configured time zone, without microseconds."""
    if value is None:
        return None
    aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return aware.astimezone(zone()).replace(microsecond=0)


def local_naive(value: Optional[datetime]) -> Optional[datetime]:
    """Local wall-clock time as a naive datetime (for spreadsheet cells, which carry no zone)."""
    local = to_local(value)
    return local.replace(tzinfo=None) if local else None


def zone_label() -> str:
    """The zone's short name for column headings, e.g. "+0530" for Colombo."""
    return datetime.now(zone()).strftime("%z")


def local_date(value: Union[datetime, date, None]) -> str:
    if value is None:
        return ""
    day = to_local(value).date() if isinstance(value, datetime) else value
    return format_date(day, "medium", locale=locale())


def local_time(value: Optional[datetime]) -> str:
    return format_time(to_local(value), "short", locale=locale()) if value else ""


def local_datetime(value: Optional[datetime]) -> str:
    """E.g. "2 Dec 2026 13:35" for 08:05 UTC in Colombo."""
    if value is None:
        return ""
    return f"{local_date(value)} {local_time(value)}"


def money(amount, currency: Optional[str] = None) -> str:
    """E.g. "LKR 1,234,567.50" (Decimal, never float; two decimals; minus sign first)."""
    if amount is None or amount == "":
        return ""
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    code = currency or _setting("DEFAULT_CURRENCY", "LKR")
    return format_currency(value, code, format="¤ #,##0.00", currency_digits=False, locale=locale())


def number(value, digits: int = 0) -> str:
    """Thousands separators, e.g. 12,345 or 1,234.5 (digits after the point)."""
    if value is None:
        return ""
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value if isinstance(value, Decimal) else Decimal(str(value)), format=pattern, locale=locale())


def age_minutes(value: Optional[datetime]) -> float:
    """Minutes since a stored UTC time (for "still working on it" versus "gave up")."""
    if value is None:
        return 0.0
    aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return (datetime.now(timezone.utc) - aware).total_seconds() / 60


_GREETING = re.compile(r"^\s*(hello|hi|dear)\b[^,.!]{0,80}[,.!]\s*", re.IGNORECASE)


def without_greeting(text: str) -> str:
    """A notice's text without its opening "Hello <name>," (for a template that greets already)."""
    stripped = _GREETING.sub("", text or "", count=1)
    return stripped[:1].upper() + stripped[1:] if stripped else text


FILTERS = {
    "local_datetime": local_datetime, "local_date": local_date, "local_time": local_time, "money": money,
    "number": number, "age_minutes": age_minutes,
}


def init_app(app: Flask) -> None:
    """The filters for every template, and the zone's label as a global (`tz_label`)."""
    app.jinja_env.filters.update(FILTERS)
    app.jinja_env.globals["tz_label"] = zone_label
