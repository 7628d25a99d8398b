"""The field-team add and edit screens: the payment schedule (stored by value, "per job") round-trips."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from app.models.people import FieldTeam, PaymentSchedule
from tests.conftest import csrf_token


def _form(name: str, schedule: str, page: str) -> dict:
    return {
        "csrf_token": csrf_token(page), "name": name, "lead_phone": "+94771112233", "service_areas": "Colombo, Gampaha",
        "can_survey": "y", "can_install": "y", "payment_schedule": schedule, "survey_rate": "3500.00",
        "installation_rate": "12500.50", "active": "y",
    }


def test_manager_adds_a_field_team_through_the_form(web_as, session):
    web = web_as("manager")
    page = web.get("/fieldteamview/add")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'value="per job"' in html and 'value="fortnightly"' in html and 'value="monthly"' in html
    response = web.post("/fieldteamview/add", data=_form("Team Kalutara", "fortnightly", html))
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    team = session.scalar(select(FieldTeam).where(FieldTeam.name == "Team Kalutara"))
    assert team.payment_schedule is PaymentSchedule.FORTNIGHTLY
    assert team.installation_rate == Decimal("12500.50") and team.areas() == ["Colombo", "Gampaha"]


def test_manager_edits_a_field_team_through_the_form(web_as, session):
    team = session.scalar(select(FieldTeam).where(FieldTeam.payment_schedule == PaymentSchedule.PER_JOB).limit(1))
    team_id, name = team.id, team.name
    session.rollback()
    web = web_as("manager")
    page = web.get(f"/fieldteamview/edit/{team_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'value="per job" selected' in html or 'selected value="per job"' in html
    response = web.post(f"/fieldteamview/edit/{team_id}", data=_form(name, "monthly", html))
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    session.expire_all()
    assert session.get(FieldTeam, team_id).payment_schedule is PaymentSchedule.MONTHLY


def test_an_unknown_schedule_is_refused_and_nothing_changes(web_as, session):
    team = session.scalar(select(FieldTeam).limit(1))
    team_id, name, before = team.id, team.name, team.payment_schedule
    session.rollback()
    web = web_as("manager")
    html = web.get(f"/fieldteamview/edit/{team_id}").get_data(as_text=True)
    response = web.post(f"/fieldteamview/edit/{team_id}", data=_form(name, "weekly", html))
    assert response.status_code == 200  # the form again, with its error
    assert "Invalid Choice" in response.get_data(as_text=True) or "Not a valid choice" in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(FieldTeam, team_id).payment_schedule is before
