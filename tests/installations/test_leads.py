"""Lead intake: the API contract, idempotency on oem_ref, source tagging, OEM isolation by API and UI."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from tests.conftest import csrf_token

LEAD = {"oem_ref": "TM-900", "customer_name": "Kamala Silva", "phone": "+94 77 765 4321", "address": "5 Lake Rd", "district": "kandy"}


def test_the_same_oem_ref_twice_is_one_lead(api_as, session, refs):
    from app.models.installations import InstallationJob, Lead

    first = api_as("oem_tata").post("/api/v1/leads/", json=LEAD)
    assert first.status_code == 201
    assert first.json["result"]["oem"] == "Tata Motors" and first.json["result"]["source"] == "api"
    assert first.json["result"]["phone"] == "+94777654321" and first.json["result"]["district"] == "Kandy"
    again = api_as("oem_tata").post("/api/v1/leads/", json={**LEAD, "customer_name": "changed"})
    assert again.status_code == 200 and again.json["id"] == first.json["id"]
    assert again.json["result"]["customer_name"] == "Kamala Silva"
    # the same reference from another OEM is another lead
    other = api_as("oem_mg").post("/api/v1/leads/", json=LEAD)
    assert other.status_code == 201 and other.json["result"]["oem"] == "MG Motor"
    assert session.scalar(select(func.count()).select_from(Lead)) == 2
    assert session.scalar(select(func.count()).select_from(InstallationJob)) == 2


def test_central_ops_names_the_oem_and_bad_input_is_400(api_as, refs):
    ops = api_as("centralops")
    missing_oem = ops.post("/api/v1/leads/", json=LEAD)
    assert missing_oem.status_code == 400 and "oem" in missing_oem.json["message"]
    created = ops.post("/api/v1/leads/", json={**LEAD, "oem": "MG"})
    assert created.status_code == 201 and created.json["result"]["source"] == "central ops"
    assert ops.post("/api/v1/leads/", json={**LEAD, "oem_ref": "X2", "oem": "MG", "phone": "12"}).status_code == 400
    assert ops.post("/api/v1/leads/", json={"oem_ref": "X3", "oem": "MG"}).status_code == 400
    assert ops.post("/api/v1/leads/", data="not json", content_type="application/json").status_code == 400
    # a role without write on leads is refused
    assert api_as("finance").post("/api/v1/leads/", json={**LEAD, "oem": "MG"}).status_code == 403


def test_an_oem_api_key_creates_leads_for_its_oem(web_as, client, refs):
    browser = web_as("oem_mg")
    page = browser.get("/apikeys/").get_data(as_text=True)
    html = browser.post("/apikeys/create", data={"name": "MG dealer system", "csrf_token": csrf_token(page)}).get_data(as_text=True)
    key = re.search(r'id="new-key-value">(sst_[^<]+)<', html).group(1)
    response = client.post("/api/v1/leads/", json={**LEAD, "oem_ref": "MG-1"}, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 201 and response.json["result"]["oem"] == "MG Motor"


def test_one_oem_reads_nothing_of_another_over_the_api(api_as, refs):
    tata = api_as("oem_tata").post("/api/v1/leads/", json=LEAD).json
    mg = api_as("oem_mg").post("/api/v1/leads/", json={**LEAD, "oem_ref": "MG-7"}).json
    mg_api = api_as("oem_mg")
    listed = mg_api.get("/api/v1/leads/").json
    assert [r["oem_ref"] for r in listed["result"]] == ["MG-7"] and listed["count"] == 1
    assert mg_api.get(f"/api/v1/leads/{tata['id']}").status_code == 404
    assert mg_api.get(f"/api/v1/jobs/{tata['result']['job_id']}").status_code == 404
    assert [r["id"] for r in mg_api.get("/api/v1/jobs/").json["result"]] == [mg["result"]["job_id"]]
    assert mg_api.get(f"/api/v1/jobs/{tata['result']['job_id']}/proposals").status_code == 404
    # even a filter naming the other OEM returns nothing
    assert mg_api.get(f"/api/v1/leads/?q=(filters:!((col:oem_ref,opr:eq,value:'{LEAD['oem_ref']}')))").json["count"] == 0
    # an OEM cannot act on jobs at all
    assert mg_api.post(f"/api/v1/jobs/{mg['result']['job_id']}/call", json={"purpose": "intro", "outcome": "reached"}).status_code == 403
    # staff see both
    assert api_as("centralops").get("/api/v1/leads/").json["count"] == 2


def test_one_oem_sees_nothing_of_another_in_the_ui(api_as, web_as, refs):
    tata = api_as("oem_tata").post("/api/v1/leads/", json=LEAD).json
    api_as("oem_mg").post("/api/v1/leads/", json={**LEAD, "oem_ref": "MG-7", "customer_name": "Wei Zhang"})
    mg = web_as("oem_mg")
    portal = mg.get("/installations/oem/").get_data(as_text=True)
    assert "MG-7" in portal and "Wei Zhang" in portal and "TM-900" not in portal and "Kamala" not in portal
    assert mg.get(f"/installations/job/{tata['result']['job_id']}").status_code == 404
    leads = mg.get("/leadview/list/").get_data(as_text=True)
    assert "MG-7" in leads and "TM-900" not in leads
    assert mg.get(f"/leadview/show/{tata['id']}").status_code == 404
    jobs = mg.get("/joblistview/list/").get_data(as_text=True)
    assert "Kamala" not in jobs
    # the portal form logs a lead tagged 'portal' for the OEM's own company
    page = mg.get("/installations/oem/").get_data(as_text=True)
    mg.post("/installations/oem/lead", data={"oem_ref": "MG-8", "customer_name": "Li", "phone": "0771112233",
                                               "district": "Colombo", "csrf_token": csrf_token(page)})
    listed = api_as("oem_mg").get("/api/v1/leads/").json["result"]
    assert {(r["oem_ref"], r["source"]) for r in listed} == {("MG-7", "api"), ("MG-8", "portal")}


def test_an_oem_login_without_an_oem_sees_nothing(api_as, refs, session):
    from app.models.installations import OemUser

    api_as("oem_tata").post("/api/v1/leads/", json=LEAD)
    session.query(OemUser).delete()
    session.commit()
    assert api_as("oem_mg").get("/api/v1/leads/").json["count"] == 0
    assert api_as("oem_mg").post("/api/v1/leads/", json={**LEAD, "oem_ref": "Z"}).status_code == 403


def test_a_lead_with_a_known_number_written_differently_attaches_to_that_customer(api_as, session, refs):
    from app.models.customers import Customer
    from app.models.installations import InstallationJob
    from app.services.customers import create_customer

    known = create_customer(session, {"name": "Nimal Perera", "phone": "+94771234567"})
    session.commit()
    before = session.scalar(select(func.count()).select_from(Customer))
    response = api_as("oem_tata").post("/api/v1/leads/", json={**LEAD, "oem_ref": "TM-901", "phone": "077 123 4567"})
    assert response.status_code == 201
    job = session.scalar(select(InstallationJob).where(InstallationJob.id == response.json["result"]["job_id"]))
    assert job.customer_id == known.id
    assert session.scalar(select(func.count()).select_from(Customer)) == before


def test_a_lead_from_a_new_number_makes_a_customer_with_its_phone_row_and_wallet(api_as, session, refs):
    from app.models.customers import CustomerPhone, Wallet
    from app.models.installations import InstallationJob

    response = api_as("oem_tata").post("/api/v1/leads/", json={**LEAD, "oem_ref": "TM-902", "phone": "0779998877"})
    assert response.status_code == 201
    job = session.scalar(select(InstallationJob).where(InstallationJob.id == response.json["result"]["job_id"]))
    assert session.scalar(select(CustomerPhone.phone).where(CustomerPhone.customer_id == job.customer_id)) == "+94779998877"
    assert session.scalar(select(func.count()).select_from(Wallet).where(Wallet.customer_id == job.customer_id)) == 1
