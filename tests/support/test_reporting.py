"""The weekly team-performance dataset (reporting code the Dagster asset calls)."""
from __future__ import annotations

from datetime import datetime, timedelta

from openpyxl import load_workbook

from app.models.support import Call, Ticket
from reporting.support_team import team_performance_frame, write_team_performance_xlsx
from tests.support.conftest import user_id


def test_team_performance_frame_and_excel(session, tmp_path):
    agent = user_id(session, "agent")
    week = datetime(2026, 3, 2)
    session.add_all(Call(caller_phone="+94771234567", category="Complaints", agent_id=agent, created_at=week + timedelta(days=d), summary="") for d in (0, 1, 8))
    session.add(Ticket(title="t", status="Closed", priority="Low", assignee_id=agent, created_at=week, updated_at=week,
                       resolved_at=week + timedelta(days=2), resolve_minutes=120))
    session.commit()
    frame = team_performance_frame(session, week, week + timedelta(days=7))
    assert frame.to_dict("records") == [{"agent": "Kasun Jayawardena", "username": "agent", "calls_handled": 2,
                                         "tickets_resolved": 1, "median_minutes_to_resolve": 120}]
    path = write_team_performance_xlsx(frame, tmp_path / "team.xlsx", "Week of 2026-03-02")
    sheet = load_workbook(path).active
    assert sheet["A1"].value == "Week of 2026-03-02" and sheet["C3"].value == 2


def test_the_asset_is_in_the_definitions():
    from pipelines import defs

    assert defs.resolve_job_def("support_weekly") is not None
