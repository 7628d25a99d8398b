"""Playwright: a dispatcher schedules and assigns a survey on the Central Ops board."""
from __future__ import annotations

from sqlalchemy import select

from tests.conftest import browser_login, screenshot
from tests.installations.conftest import day, job


def test_dispatcher_schedules_and_assigns_a_survey_on_the_board(page, flow, session):
    from app.models.installations import JobVisit
    from app.services import installations

    job_id = flow.lead("TM-700")
    flow.documents(job_id)
    browser_login(page, "dispatcher")
    page.goto("/installations/board")
    card = page.locator(f"#job-{job_id}")
    assert card.locator("xpath=ancestor::div[@data-stage]").get_attribute("data-stage") == installations.DOCUMENTS_COMPLETE
    card.locator("input[name=date]").fill(day(3))
    card.locator("select[name=slot]").select_option("afternoon")
    card.get_by_role("button", name="Schedule survey").click()
    page.wait_for_load_state("networkidle")
    assert "Survey scheduled for" in page.content()

    card = page.locator(f"#job-{job_id}")
    assert card.locator("xpath=ancestor::div[@data-stage]").get_attribute("data-stage") == installations.SURVEY_SCHEDULED
    options = card.locator("select[name=team_id] option").all_inner_texts()
    assert options == ["Team Colombo North", "Team Colombo South"]  # survey skill, serving Colombo, free
    card.locator("select[name=team_id]").select_option(label="Team Colombo South")
    card.get_by_role("button", name="Assign team").click()
    page.wait_for_load_state("networkidle")
    assert "assigned to Team Colombo South" in page.content()
    card = page.locator(f"#job-{job_id}")
    assert card.locator("xpath=ancestor::div[@data-stage]").get_attribute("data-stage") == installations.SURVEY_ASSIGNED
    assert "Team Colombo South" in card.inner_text()
    screenshot(page, "installations-board-dispatcher")

    assert job(session, job_id).stage == installations.SURVEY_ASSIGNED
    visit = session.scalar(select(JobVisit).where(JobVisit.job_id == job_id, JobVisit.status == "assigned"))
    assert visit.visit_date.isoformat() == day(3) and visit.slot == "afternoon"

    # the job page shows the audit trail with the dispatcher's name
    page.click(f"#job-{job_id} a")
    page.wait_for_load_state("networkidle")
    assert "dispatcher" in page.locator("#history").inner_text()
