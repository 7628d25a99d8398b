"""People: departments, members, field teams, activity tracking, the activity task on a real worker."""
from __future__ import annotations

from sqlalchemy import select

from app.models.people import ActivityLog, FieldTeam, TeamMember


def test_demo_people_exist_with_departments_and_teams(session):
    members = session.scalars(select(TeamMember)).all()
    assert len(members) == 13
    agent = next(m for m in members if m.user.username == "agent")
    assert agent.department.name == "Hotline" and agent.department.has_capability("calls")
    assert session.scalar(select(FieldTeam).where(FieldTeam.name == "Team Kandy")).serves("matale")


def test_signing_in_records_activity_and_last_activity(session, web_as):
    web_as("agent")
    session.expire_all()
    member = session.scalar(select(TeamMember).join(TeamMember.user).where(TeamMember.user.has(username="agent")))
    assert member.last_activity_at is not None
    log = session.scalars(select(ActivityLog).where(ActivityLog.user_id == member.user_id)).all()
    assert [entry.kind for entry in log] == ["login"]


def test_manager_creates_a_field_team_over_the_api(api_as, session):
    response = api_as("manager").post(
        "/api/v1/field_teams/",
        json={"name": "Team Jaffna", "service_areas": "Jaffna", "can_survey": True, "can_install": False,
              "payment_schedule": "monthly", "survey_rate": "5200.00", "installation_rate": "0.00", "active": True},
    )
    assert response.status_code == 201, response.json
    team = session.scalar(select(FieldTeam).where(FieldTeam.name == "Team Jaffna"))
    assert str(team.survey_rate) == "5200.00" and team.payment_schedule.value == "monthly"


def test_bad_field_team_is_refused_with_a_message_and_nothing_written(api_as, session):
    response = api_as("manager").post("/api/v1/field_teams/", json={"name": "Team X", "payment_schedule": "weekly"})
    assert response.status_code == 400
    assert "payment_schedule" in response.json["message"]
    assert session.scalar(select(FieldTeam).where(FieldTeam.name == "Team X")) is None
