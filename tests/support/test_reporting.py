"""The weekly team-performance dataset (reporting code the Dagster asset calls)."""
from __future__ import annotations

from datetime import datetime, timedelta

from openpyxl import load_workbook

from app.models.support import Call, Ticket
from reporting.support_team import team_performance_frame
from reporting.team_performance import support_team, team_performance_workbook
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
    agents = support_team(session, week.date(), (week + timedelta(days=6)).date())
    path = tmp_path / "team.xlsx"
    path.write_bytes(team_performance_workbook("ChargeOps", "weekly", week.date(), (week + timedelta(days=6)).date(), agents, []))
    sheet = load_workbook(path)["Support agents"]
    assert sheet["A1"].value == "ChargeOps: support desk performance, week of 2 to 8 March 2026"
    assert [c.value for c in sheet[5]][:6] == ["Kasun Jayawardena", "agent", 2, 1, 1, 1]  # resolved with no due time: within SLA


def test_the_asset_is_in_the_definitions():
    from pipelines import defs

    assert defs.resolve_job_def("team_performance_weekly") is not None
