"""Survey/installation day emergencies: backup team found, or none and a priority reschedule."""
from __future__ import annotations

from sqlalchemy import select

from tests.installations.conftest import day, job, team_id


def _messages(session, job_id):
    from app.models.installations import JobMessage

    return [m.template for m in session.scalars(select(JobMessage).where(JobMessage.job_id == job_id).order_by(JobMessage.id))]


def test_team_unavailable_then_backup_team_assigned(flow, api_as, session):
    from app.models.installations import JobVisit
    from app.models.messaging import Notification
    from app.services import installations

    job_id = flow.lead("TM-200", district="Colombo")
    flow.documents(job_id)
    flow.survey(job_id, team="Team Colombo North")

    reported = flow.do("fieldteam", job_id, "team_unavailable", reason="Van broke down")
    assert "Team Colombo South" in reported["message"]
    current = job(session, job_id)
    assert current.stage == installations.SURVEY_SCHEDULED and current.emergency
    # Central Ops is told, the customer hears of the delay
    alerts = list(session.scalars(select(Notification).where(Notification.kind == "installation_emergency")))
    assert {n.user.username for n in alerts} >= {"centralops", "dispatcher"}
    assert "visit_delayed" in _messages(session, job_id)

    proposals = flow.ok(api_as("centralops").get(f"/api/v1/jobs/{job_id}/proposals?kind=survey"))
    assert [t["name"] for t in proposals["teams"]] == ["Team Colombo South"]  # North cannot make it; skill + area + free

    flow.do("centralops", job_id, "backup", kind="survey", team_id=proposals["teams"][0]["team_id"])
    current = job(session, job_id)
    assert current.stage == installations.SURVEY_ASSIGNED and not current.emergency
    visit = session.scalar(select(JobVisit).where(JobVisit.job_id == job_id, JobVisit.status == "assigned"))
    assert visit.team.name == "Team Colombo South" and visit.emergency
    assert "Emergency assignment" in current.events[-1].comment


def test_no_backup_team_means_priority_reschedule_ahead_of_normal_jobs(flow, api_as, session):
    from app.models.installations import JobVisit
    from app.services import installations

    # Galle is served by one survey team only
    job_id = flow.lead("TM-201", district="Galle")
    flow.documents(job_id)
    flow.survey(job_id, team="Team Galle", offset=2)
    reported = flow.do("centralops", job_id, "team_unavailable", reason="Team lead ill")
    assert "priority reschedule" in reported["message"]
    assert flow.ok(api_as("centralops").get(f"/api/v1/jobs/{job_id}/proposals?kind=survey"))["teams"] == []

    # a normal Galle job waiting for a slot
    other = flow.lead("TM-202", district="Galle")
    flow.documents(other)

    flow.do("centralops", job_id, "priority_reschedule", kind="survey")
    current = job(session, job_id)
    assert current.priority and current.stage == installations.SURVEY_SCHEDULED
    visit = session.scalar(select(JobVisit).where(JobVisit.job_id == job_id, JobVisit.status == "scheduled"))
    assert visit.visit_date.isoformat() == day(3) and visit.slot == "morning"  # the next slot the team is free
    assert "visit_rescheduled" in _messages(session, job_id)

    # the normal job is not offered the slot the priority job holds
    slots = flow.ok(api_as("centralops").get(f"/api/v1/jobs/{other}/proposals?kind=survey"))["slots"]
    assert {"date": day(3), "slot": "morning"} not in [{"date": s["date"], "slot": s["slot"]} for s in slots]
    # and the board puts the priority job first
    jobs = sorted([job(session, other), job(session, job_id)], key=installations.board_sort_key)
    assert jobs[0].id == job_id

    flow.do("centralops", job_id, "assign", kind="survey", team_id=team_id(session, "Team Galle"))
    assert job(session, job_id).stage == installations.SURVEY_ASSIGNED


def test_installation_day_emergency_uses_the_same_backup_logic(flow, session, refs):
    from app.services import installations

    job_id = flow.lead("TM-203")
    flow.to_site_ready(job_id)
    flow.materials(job_id, refs)
    flow.do("centralops", job_id, "schedule", kind="installation", date=day(6), slot="afternoon")
    flow.do("centralops", job_id, "assign", kind="installation", team_id=team_id(session, "Team Colombo North"))
    reported = flow.do("fieldteam", job_id, "team_unavailable", kind="installation", reason="Flooded road")
    assert "Team Colombo South" in reported["message"]
    assert job(session, job_id).stage == installations.INSTALLATION_SCHEDULED and job(session, job_id).emergency
    flow.do("centralops", job_id, "backup", kind="installation", team_id=team_id(session, "Team Colombo South"))
    assert job(session, job_id).stage == installations.INSTALLATION_ASSIGNED


def test_a_team_member_cannot_report_another_teams_visit(flow, session):
    job_id = flow.lead("TM-204")
    flow.documents(job_id)
    flow.survey(job_id, team="Team Colombo South")  # fieldteam is a member of Colombo North only
    response = flow.act("fieldteam", job_id, "team_unavailable", reason="not mine")
    assert response.status_code == 404
