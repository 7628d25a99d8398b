"""Report periods and where report files are kept."""
from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from pathlib import Path

from flask import current_app

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def period_bounds(period: str, start: date) -> tuple[date, date]:
    """Inclusive dates of a weekly (7 days) or monthly (calendar month) period starting at `start`."""
    if period == "weekly":
        return start, start + timedelta(days=6)
    if period == "monthly":
        first = start.replace(day=1)
        nxt = (first + timedelta(days=32)).replace(day=1)
        return first, nxt - timedelta(days=1)
    raise ValueError(f"period must be weekly or monthly, not {period}")


def month_start(text: str) -> date:
    """'2026-11' -> date(2026, 11, 1); anything else is a ValueError (a 400 at the API)."""
    match = MONTH.match(text or "")
    if not match:
        raise ValueError("period must be a month as YYYY-MM, e.g. 2026-11")
    return date(int(match.group(1)), int(match.group(2)), 1)


def day_range(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, day after end 00:00): the period as a half-open range of timestamps."""
    return datetime.combine(start, time.min), datetime.combine(end + timedelta(days=1), time.min)


def describe(period: str, start: date, end: date) -> str:
    """'week of 3 to 9 November 2026' / 'November 2026'."""
    if period == "monthly":
        return start.strftime("%B %Y")
    if start.month == end.month:
        return f"week of {start.day} to {end.day} {end:%B %Y}"
    return f"week of {start.day} {start:%B} to {end.day} {end:%B %Y}"


def report_dir(*parts: str) -> Path:
    path = Path(current_app.config["VAR_DIR"]).joinpath("reports", *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
