"""Team performance of the support desk: per agent, calls handled, tickets resolved, median time to resolve."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

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


def write_team_performance_xlsx(frame: pd.DataFrame, path: Path, title: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        frame.to_excel(writer, sheet_name="Team performance", index=False, startrow=1)
        sheet = writer.sheets["Team performance"]
        sheet["A1"] = title
        for column, width in zip("ABCDE", (28, 16, 14, 16, 26)):
            sheet.column_dimensions[column].width = width
    return path
