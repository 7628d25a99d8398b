"""The full happy path of one job, from an OEM's API lead to the field team's payout."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select

from tests.installations.conftest import job, team_id


def test_one_job_from_api_lead_to_paid(flow, api_as, session, refs):
    from app.models.installations import JobEvent, JobMessage, JobVisit, StockLevel, StockMove
    from app.models.messaging import Notification
    from app.services import installations

    job_id = flow.lead("TM-100")
    assert job(session, job_id).stage == installations.LEAD_LOGGED
    assert job(session, job_id).lead.source == "api" and job(session, job_id).oem.name == "Tata Motors"

    # phase 1: intro call, then the customer's documents through the link -> documents complete
    flow.documents(job_id)
    assert job(session, job_id).stage == installations.DOCUMENTS_COMPLETE
    templates = [m.template for m in session.scalars(select(JobMessage).where(JobMessage.job_id == job_id))]
    assert "upload_link" in templates

    # phases 2-3: survey time, team, Survey ID shared with the team, confirmation call, report
    flow.survey(job_id)
    current = job(session, job_id)
    assert current.stage == installations.SURVEY_ASSIGNED
    visit = session.scalar(select(JobVisit).where(JobVisit.job_id == job_id, JobVisit.status == "assigned"))
    assert visit.code == f"SRV-{job_id:05d}" and visit.team.name == "Team Colombo North"
    fieldteam_note = session.scalar(select(Notification).join(Notification.user).where(Notification.title.contains(visit.code)))
    assert fieldteam_note is not None and fieldteam_note.user.username == "fieldteam"
    flow.survey_done(job_id)
    assert job(session, job_id).stage == installations.SURVEY_DONE

    # phase 4: review -> site ready, customer told
    flow.do("centralops", job_id, "review", site_ready=True)
    assert job(session, job_id).stage == installations.SITE_READY
    assert session.scalar(select(JobMessage.id).where(JobMessage.job_id == job_id, JobMessage.template == "site_ready"))

    # phase 5: materials checked and allocated from stock
    colombo = refs["locations"]["Colombo warehouse"].id
    charger = refs["materials"]["CHG-AC7"].id
    before = session.scalar(select(StockLevel.quantity).where(StockLevel.material_id == charger, StockLevel.location_id == colombo))
    flow.materials(job_id, refs)
    session.expire_all()
    after = session.scalar(select(StockLevel.quantity).where(StockLevel.material_id == charger, StockLevel.location_id == colombo))
    assert after == before - 1
    assert session.scalar(select(func.count()).select_from(StockMove).where(StockMove.job_id == job_id)) == 4
    assert job(session, job_id).stage == installations.MATERIALS_ALLOCATED

    # phase 6: installation assigned (pre-installation confirmation), installed with serial + OCPP identity
    flow.install(job_id, serial="TATA-7K-0001")
    from app.models.chargers import Charger

    registered = session.scalar(select(Charger).where(Charger.cid == "CP-TATA-7K-0001"))  # ready for monitoring
    assert registered.serial == "TATA-7K-0001" and registered.type == "L2" and not registered.unregistered
    assert registered.latitude == 6.9 and registered.address.startswith("12 Galle Road")
    assert session.scalar(select(JobMessage.id).where(JobMessage.job_id == job_id, JobMessage.template == "pre_installation"))
    assert job(session, job_id).stage == installations.INSTALLED

    # phase 7-8: closure call, sign-off, closure pack, payable, Finance releases the payout
    flow.close(job_id)
    assert job(session, job_id).stage == installations.PAYABLE
    released = flow.ok(api_as("finance").post("/api/v1/payouts/release", json={
        "team_id": team_id(session, "Team Colombo North"), "reference": "BANK-TX-1"}), 201)
    assert released["result"][0]["jobs"] == [job_id]
    assert Decimal(released["result"][0]["amount"]) == Decimal("4500.00") + Decimal("12000.00")
    final = job(session, job_id)
    assert final.stage == installations.PAID and final.paid_at is not None

    # every stage change is audited with who, from and to
    events = list(session.scalars(select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.id)))
    stages = [e.to_stage for e in events if e.from_stage != e.to_stage]
    assert stages == [
        installations.LEAD_LOGGED, installations.INTRO_CALL_DONE, installations.DOCUMENTS_COMPLETE, installations.SURVEY_SCHEDULED, installations.SURVEY_ASSIGNED,
        installations.SURVEY_DONE, installations.SITE_READY, installations.MATERIALS_CHECKED, installations.MATERIALS_ALLOCATED, installations.INSTALLATION_SCHEDULED,
        installations.INSTALLATION_ASSIGNED, installations.INSTALLED, installations.CLOSURE_CALL_DONE, installations.CLOSURE_PACK_SUBMITTED, installations.PAYABLE, installations.PAID,
    ]
    by = {e.to_stage: e.actor for e in events if e.from_stage != e.to_stage}
    assert by[installations.SURVEY_ASSIGNED] == "dispatcher" and by[installations.DOCUMENTS_COMPLETE] == "customer" and by[installations.PAID] == "finance"


def test_a_job_is_visible_on_its_page_with_its_history(flow, web_as, session):
    job_id = flow.lead("TM-101")
    flow.documents(job_id)
    html = web_as("centralops").get(f"/installations/job/{job_id}").get_data(as_text=True)
    assert "Documents complete" in html and "Intro call done" in html and "customer" in html


def test_the_job_page_offers_each_role_only_its_forms(flow, web_as):
    job_id = flow.lead("TM-102")
    flow.documents(job_id)
    ops = web_as("centralops").get(f"/installations/job/{job_id}").get_data(as_text=True)
    assert 'data-action="schedule"' in ops and 'data-action="call"' in ops
    finance = web_as("finance").get(f"/installations/job/{job_id}").get_data(as_text=True)
    assert 'data-action="schedule"' not in finance and 'data-action="call"' not in finance
    oem = web_as("oem_tata").get(f"/installations/job/{job_id}").get_data(as_text=True)
    assert "data-action=\"" not in oem and "+9477" not in oem  # the OEM sees progress, not the customer's contact
    # a forged form post from a role the table does not allow changes nothing
    from tests.conftest import csrf_token

    finance_client = web_as("finance")
    page = finance_client.get(f"/installations/job/{job_id}").get_data(as_text=True)
    finance_client.post(f"/installations/job/{job_id}/act/schedule", data={"kind": "survey", "date": "2030-01-01", "slot": "morning",
                                                                            "csrf_token": csrf_token(page)})
    assert "Documents complete" in web_as("centralops").get(f"/installations/job/{job_id}").get_data(as_text=True)


def test_a_job_form_is_checked_by_the_same_schema_as_the_api(flow, web_as, session):
    """The UI's job actions go through the API's schema for the fields both share: nothing half-written."""
    from app.models.installations import InstallationJob
    from tests.conftest import csrf_token

    job_id = flow.lead("TM-FORM")
    ops = web_as("centralops")
    page = ops.get(f"/installations/job/{job_id}").get_data(as_text=True)
    long_note = "x" * 10_001
    answer = ops.post(f"/installations/job/{job_id}/act/call", data={
        "purpose": "intro", "outcome": "reached", "note": long_note, "csrf_token": csrf_token(page)}, follow_redirects=True)
    assert "note: Longer than maximum length" in answer.get_data(as_text=True)
    session.expire_all()
    job = session.get(InstallationJob, job_id)
    assert not any(long_note in (c.note or "") for c in getattr(job, "calls", []))
    flow.do("centralops", job_id, "call", purpose="intro", outcome="reached", note="spoke to Sunil")  # the API path still works
