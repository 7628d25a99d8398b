"""Installations fixtures: OEMs linked to the demo OEM users, the catalogue and stock, and a helper
that walks a job through the phases over the real API as the real roles."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlalchemy import select

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64


def day(offset: int) -> str:
    from app.models.base import utcnow

    return (utcnow().date() + timedelta(days=offset)).isoformat()


@pytest.fixture
def refs(session):
    from app.demo.installations import seed_reference

    data = seed_reference(session)
    session.commit()
    return data


def team_id(session, name: str) -> int:
    from app.models.people import FieldTeam

    return session.scalar(select(FieldTeam.id).where(FieldTeam.name == name))


class Flow:
    """Drives one job through the phases over the REST API, each step as the role that does it."""

    def __init__(self, api_as, session):
        self.api_as = api_as
        self.session = session

    def ok(self, response, status=200):
        assert response.status_code == status, response.get_data(as_text=True)
        return response.json

    def act(self, user, job_id, action, status=200, **data):
        return self.api_as(user).post(f"/api/v1/jobs/{job_id}/{action}", json=data)

    def do(self, user, job_id, action, **data):
        return self.ok(self.act(user, job_id, action, **data))

    def lead(self, ref="TM-1", district="Colombo", user="oem_tata") -> int:
        body = self.ok(self.api_as(user).post("/api/v1/leads/", json={
            "oem_ref": ref, "customer_name": "Sunil Perera", "phone": "077 123 4567", "address": "12 Galle Road",
            "district": district, "vehicle_model": "Nexon EV",
        }), 201)
        return body["result"]["job_id"]

    def documents(self, job_id):
        self.do("centralops", job_id, "call", purpose="intro", outcome="reached")
        from app.services.installations_uploads import upload_token
        from app.models.installations import InstallationJob

        token = upload_token(self.session.get(InstallationJob, job_id))
        from app.services.installations_steps import customer_upload

        customer_upload(self.session, token, {"address": "12 Galle Road, Colombo 03", "latitude": "6.9000", "longitude": "79.8500",
                                              "electrician_name": "Nimal Electricals", "electrician_phone": "0771234599"},
                        {"electricity_bill": ("bill.pdf", PDF)})
        self.session.commit()

    def survey(self, job_id, team="Team Colombo North", offset=3):
        self.do("dispatcher", job_id, "schedule", kind="survey", date=day(offset), slot="morning")
        self.do("dispatcher", job_id, "assign", kind="survey", team_id=team_id(self.session, team))

    def survey_done(self, job_id):
        self.do("fieldteam", job_id, "call", purpose="survey day", outcome="confirmed")
        self.do("fieldteam", job_id, "survey_report", checklist={"main_supply_phase": "single", "earthing_present": "yes"})

    def to_site_ready(self, job_id):
        self.documents(job_id)
        self.survey(job_id)
        self.survey_done(job_id)
        self.do("centralops", job_id, "review", site_ready=True)

    def materials(self, job_id, refs):
        location = refs["locations"]["Colombo warehouse"].id
        self.do("centralops", job_id, "request_check")
        self.do("procurement", job_id, "check_materials", location_id=location)
        self.do("procurement", job_id, "allocate", team_id=team_id(self.session, "Team Colombo North"))

    def install(self, job_id, serial="SN-1", offset=6):
        self.do("centralops", job_id, "schedule", kind="installation", date=day(offset), slot="afternoon")
        self.do("centralops", job_id, "assign", kind="installation", team_id=team_id(self.session, "Team Colombo North"))
        self.do("fieldteam", job_id, "call", purpose="installation day", outcome="confirmed")
        self.do("fieldteam", job_id, "installation_report", charger_serial=serial, ocpp_identity=f"CP-{serial}", demo_given=True)

    def close(self, job_id):
        self.do("centralops", job_id, "call", purpose="closure", outcome="confirmed")
        self.do("centralops", job_id, "signoff", signed_by="Sunil Perera")
        self.do("centralops", job_id, "closure_pack")
        self.do("centralops", job_id, "payable")


@pytest.fixture
def flow(api_as, session, refs):
    return Flow(api_as, session)


def job(session, job_id):
    from app.models.installations import InstallationJob

    session.expire_all()
    return session.get(InstallationJob, job_id)


def file_upload(data: bytes, name: str):
    return (io.BytesIO(data), name)
