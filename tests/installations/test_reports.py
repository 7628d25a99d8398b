"""OEM reports: the Excel content, the e-mail through a real SMTP server (aiosmtpd), the Dagster
partition materialization, and the closure pack PDF + media archive."""
from __future__ import annotations

import email
import io
import socket
import time
import zipfile
from datetime import datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import select

from tests.installations.conftest import JPEG, job


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, email.message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    inbox.url = f"smtp://127.0.0.1:{port}"
    yield inbox
    controller.stop()


def _attachment(message) -> pd.DataFrame:
    part = next(p for p in message.walk() if p.get_filename())
    return pd.read_excel(io.BytesIO(part.get_payload(decode=True)), sheet_name="Jobs")


def test_the_weekly_report_is_emailed_to_the_oem_contact(app, flow, session, smtp_server, monkeypatch):
    from app.models.installations import Oem
    from reporting.installations import oem_report

    monkeypatch.setitem(app.config, "SMTP_URL", smtp_server.url)
    flow.lead("TM-800")
    surveyed = flow.lead("TM-801")
    flow.documents(surveyed)
    flow.lead("MG-800", user="oem_mg")
    tata = session.scalar(select(Oem).where(Oem.code == "TATA"))
    today = datetime.utcnow().date()
    record, frame = oem_report(session, tata, "weekly", today - timedelta(days=today.weekday()))
    session.commit()
    assert record.rows == 2 and record.emailed_to == "ev-installs@tatamotors.example" and record.email_status == "sent"
    (rcpts, message), = smtp_server.messages
    assert rcpts == ["ev-installs@tatamotors.example"] and "Tata Motors" in message["Subject"]
    sheet = _attachment(message)
    assert sorted(sheet["Your reference"]) == ["TM-800", "TM-801"]  # nothing of MG's
    assert list(sheet["Stage"]) == ["Lead logged", "Documents complete"]  # pipeline order


def test_dagster_materializes_one_weekly_partition(app, flow, session, smtp_server, monkeypatch, tmp_path):
    from dagster import materialize

    from app.models.installations import Lead
    from pipelines.assets.installations import oem_weekly_reports
    from pipelines.partitions import WEEKLY
    from pipelines.resources.chargeops import ChargeOpsApp

    key = WEEKLY.get_last_partition_key()
    monday = datetime.fromisoformat(key)
    for ref in ("TM-810", "TM-811"):
        flow.lead(ref)
    flow.lead("TM-812")  # logged after the week: not in that week's report
    flow.lead("MG-810", user="oem_mg")
    for lead in session.scalars(select(Lead).where(Lead.oem_ref.in_(("TM-810", "TM-811", "MG-810")))):
        lead.created_at = monday + timedelta(days=2)
    session.commit()

    # inside a running app (here the test's) the resource uses that app: point it at the test SMTP server and dir
    for name, value in (("SMTP_URL", smtp_server.url), ("VAR_DIR", tmp_path)):
        monkeypatch.setitem(app.config, name, value)
    result = materialize([oem_weekly_reports], partition_key=key,
                         resources={"chargeops": ChargeOpsApp(database_url=app.config["SQLALCHEMY_DATABASE_URI"])})
    assert result.success
    workbook = tmp_path / "reports" / "installations" / f"TATA-weekly-{key}.xlsx"
    jobs = pd.read_excel(workbook, sheet_name="Jobs")
    assert sorted(jobs["Your reference"]) == ["TM-810", "TM-811"]
    mg = pd.read_excel(tmp_path / "reports" / "installations" / f"MG-weekly-{key}.xlsx", sheet_name="Jobs")
    assert list(mg["Your reference"]) == ["MG-810"]
    assert sorted(r[0] for r, _ in smtp_server.messages) == ["charging@mgmotor.example", "ev-installs@tatamotors.example"]


def test_the_closure_pack_is_one_pdf_and_a_media_archive(flow, api_as, web_as, session, refs):
    job_id = flow.lead("TM-820")
    flow.to_site_ready(job_id)
    flow.materials(job_id, refs)
    flow.do("centralops", job_id, "schedule", kind="installation", date=(datetime.utcnow().date() + timedelta(days=6)).isoformat(), slot="morning")
    flow.do("centralops", job_id, "assign", kind="installation", team_id=__import__("tests.installations.conftest", fromlist=["team_id"]).team_id(session, "Team Colombo North"))
    flow.do("fieldteam", job_id, "call", purpose="installation day", outcome="confirmed")
    response = api_as("fieldteam").post(f"/api/v1/jobs/{job_id}/installation_report", data={
        "charger_serial": "TATA-9", "ocpp_identity": "CP-TATA-9", "demo_given": "1",
        "installation_photo": (io.BytesIO(JPEG), "wallbox.jpg")}, content_type="multipart/form-data")
    assert response.status_code == 200, response.get_data(as_text=True)
    flow.do("centralops", job_id, "call", purpose="closure", outcome="confirmed")
    early = flow.act("centralops", job_id, "closure_pack")
    assert early.status_code == 409 and "sign-off" in early.json["message"]
    flow.do("centralops", job_id, "signoff", signed_by="Sunil Perera")
    flow.do("centralops", job_id, "closure_pack")
    assert job(session, job_id).stage == "Closure pack submitted"

    browser = web_as("oemreporting")
    pdf = browser.get(f"/installations/job/{job_id}/closure-pack.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    archive = zipfile.ZipFile(io.BytesIO(browser.get(f"/installations/job/{job_id}/closure-media.zip").data))
    names = archive.namelist()
    assert f"INS-{job_id:05d}-closure-pack.pdf" in names
    assert any(n.startswith("installation_photo/") for n in names) and any(n.startswith("electricity_bill/") for n in names)
    # the other OEM cannot download it
    assert web_as("oem_mg").get(f"/installations/job/{job_id}/closure-pack.pdf").status_code == 404


def test_oem_reporting_sends_the_reports_now_through_the_worker(app, celery_worker, flow, web_as, session, smtp_server, monkeypatch):
    from app.models.installations import OemReport
    from tests.conftest import csrf_token

    monkeypatch.setitem(app.config, "SMTP_URL", smtp_server.url)
    flow.lead("TM-830")
    browser = web_as("oemreporting")
    page = browser.get("/installations/oem/").get_data(as_text=True)
    today = datetime.utcnow().date()
    monday = (today - timedelta(days=today.weekday())).isoformat()
    response = browser.post("/installations/oem/send-reports", data={"period": "weekly", "start": monday, "csrf_token": csrf_token(page)},
                            follow_redirects=True)
    assert "for 2 OEM(s)" in response.get_data(as_text=True)
    deadline = time.time() + 60

    def recorded():  # the task commits the report's e-mail status just after the server accepted the message
        session.expire_all()
        return {r.oem.code: (r.rows, r.email_status) for r in session.scalars(select(OemReport)) if r.email_status}

    while (len(smtp_server.messages) < 2 or len(recorded()) < 2) and time.time() < deadline:
        time.sleep(0.2)
    assert sorted(r[0] for r, _ in smtp_server.messages) == ["charging@mgmotor.example", "ev-installs@tatamotors.example"]
    assert recorded() == {"TATA": (1, "sent"), "MG": (0, "sent")}
    # the OEM downloads its own report from the portal, and only its own
    tata = web_as("oem_tata")
    portal = tata.get("/installations/oem/").get_data(as_text=True)
    assert "weekly" in portal and "send-reports" not in portal
    mine = session.scalar(select(OemReport).where(OemReport.oem.has(code="TATA")))
    theirs = session.scalar(select(OemReport).where(OemReport.oem.has(code="MG")))
    assert tata.get(f"/installations/oem/report/{mine.id}").status_code == 200
    assert tata.get(f"/installations/oem/report/{theirs.id}").status_code == 404
