"""Support desk team performance as a DataFrame (the dashboard's figures); the workbook is reporting/team_performance.py."""
from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy.orm import Session

from app.services.support_dashboard import team_performance

COLUMNS = ["agent", "username", "calls_handled", "tickets_resolved", "median_minutes_to_resolve"]


def team_performance_frame(session: Session, start: datetime, end: datetime) -> pd.DataFrame:
    """One row per agent active in [start, end), busiest first (the same SQL as the dashboard)."""
    rows = team_performance(session, start, end)
    return pd.DataFrame(
        [[r["name"], r["username"], r["calls"], r["resolved"], r["median_minutes"]] for r in rows], columns=COLUMNS
    )
