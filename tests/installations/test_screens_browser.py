"""Playwright: each role's main installation screen, used the way that role uses it."""
from __future__ import annotations

from sqlalchemy import select

from tests.conftest import browser_login, screenshot
from tests.installations.conftest import JPEG, PDF, job, team_id


def test_field_team_sees_only_its_jobs_and_submits_the_survey_report(page, flow, session, tmp_path):
    from app.services import installations

    mine = flow.lead("TM-710")
    theirs = flow.lead("TM-711")
    for job_id, team in ((mine, "Team Colombo North"), (theirs, "Team Colombo South")):
        flow.documents(job_id)
        flow.survey(job_id, team=team)
    browser_login(page, "fieldteam")
    page.goto("/installations/my-jobs/")
    listing = page.locator("#my-jobs").inner_text()
    assert f"SRV-{mine:05d}" in listing and f"SRV-{theirs:05d}" not in listing
    page.click(f"text=INS-{mine:05d}")
    page.wait_for_load_state("networkidle")
    call = page.locator("form[data-action=call]")
    call.locator("select[name=purpose]").select_option("survey day")
    call.locator("select[name=outcome]").select_option("confirmed")
    call.get_by_role("button", name="Log call").click()
    page.wait_for_load_state("networkidle")
    photo = tmp_path / "site.jpg"
    photo.write_bytes(JPEG)
    report = page.locator("form[data-action=survey_report]")
    report.locator("input[name=main_supply_phase]").fill("single phase")
    report.locator("input[name=earthing_present]").fill("yes")
    report.locator("input[name=survey_photo]").set_input_files(str(photo))
    report.get_by_role("button", name="Submit survey report").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#job-stage").inner_text() == installations.SURVEY_DONE
    screenshot(page, "installations-field-team-job")
    assert job(session, mine).stage == installations.SURVEY_DONE
    response = page.goto(f"/installations/job/{theirs}")
    assert response.status == 404


def test_finance_releases_a_team_payout_from_its_queue(page, flow, session, refs):
    from app.services import installations

    job_id = flow.lead("TM-720")
    flow.to_site_ready(job_id)
    flow.materials(job_id, refs)
    flow.install(job_id, serial="SN-720")
    flow.close(job_id)
    browser_login(page, "finance")
    page.goto("/installations/finance/")
    row = page.locator("#payouts-due tr[data-team='Team Colombo North']")
    assert f"INS-{job_id:05d}" in row.inner_text() and "16500.00" in row.inner_text()
    row.locator("input[name=reference]").fill("BANK-720")
    row.get_by_role("button", name="Release").click()
    page.wait_for_load_state("networkidle")
    assert "Released 1 payout(s): BANK-720 16500.00" in page.content()
    assert "Nothing due." in page.locator("#payouts-due").inner_text()
    screenshot(page, "installations-finance-queue")
    assert job(session, job_id).stage == installations.PAID


def test_oem_portal_shares_a_lead_and_shows_only_the_oems_own(page, flow, session):
    flow.lead("TM-730")
    browser_login(page, "oem_mg")
    page.goto("/installations/oem/")
    form = page.locator("#new-lead")
    form.locator("input[name=oem_ref]").fill("MG-730")
    form.locator("input[name=customer_name]").fill("Wei Zhang")
    form.locator("input[name=phone]").fill("0779998877")
    form.locator("input[name=district]").fill("Colombo")
    form.get_by_role("button", name="Share lead").click()
    page.wait_for_load_state("networkidle")
    table = page.locator("#oem-leads").inner_text()
    assert "MG-730" in table and "Lead logged" in table and "TM-730" not in table
    screenshot(page, "installations-oem-portal")


def test_customer_uploads_documents_through_the_link(page, flow, session, tmp_path):
    from app.services import installations
    from app.services.installations_uploads import upload_token

    job_id = flow.lead("TM-740")
    flow.do("centralops", job_id, "call", purpose="intro", outcome="reached")
    bill = tmp_path / "bill.pdf"
    bill.write_bytes(PDF)
    page.goto(f"/installations/upload/{upload_token(job(session, job_id))}")
    page.set_input_files("input[name=electricity_bill]", str(bill))
    page.fill("input[name=address]", "12 Galle Road, Colombo 03")
    page.fill("input[name=latitude]", "6.9100")
    page.fill("input[name=longitude]", "79.8500")
    page.fill("input[name=electrician_name]", "Ravi")
    page.fill("input[name=electrician_phone]", "0771234500")
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "saved" in page.locator("#upload-saved").inner_text()
    screenshot(page, "installations-customer-upload")
    assert job(session, job_id).stage == installations.DOCUMENTS_COMPLETE


def test_procurement_checks_and_allocates_on_the_job_page(page, flow, session, refs):
    from app.services import installations

    job_id = flow.lead("TM-750")
    flow.to_site_ready(job_id)
    flow.do("centralops", job_id, "request_check")
    browser_login(page, "procurement")
    page.goto("/installations/procurement/")
    page.click(f"text=INS-{job_id:05d}")
    page.wait_for_load_state("networkidle")
    page.locator("form[data-action=check_materials] select").select_option(label="Colombo warehouse")
    page.get_by_role("button", name="Check availability").click()
    page.wait_for_load_state("networkidle")
    assert "Materials available" in page.content()
    page.locator("form[data-action=allocate] select").select_option(label="Team Colombo North")
    page.get_by_role("button", name="Allocate stock").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#job-stage").inner_text() == installations.MATERIALS_ALLOCATED
