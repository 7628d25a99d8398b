"""Reports fixtures: a seeded month (jobs through the flow, payouts, calls, tickets) moved into one
complete weekly partition inside one complete monthly partition, and SMTP servers that accept or refuse."""
from __future__ import annotations

import email
import socket
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select, update

from tests.installations.conftest import flow, refs, team_id  # noqa: F401  (fixtures)


class Inbox:
    def __init__(self, refuse: bool = False):
        self.messages, self.refuse = [], refuse

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse:
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, email.message_from_bytes(envelope.content)))
        return "250 OK"


def _smtp(refuse: bool):
    from aiosmtpd.controller import Controller

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox(refuse)
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    inbox.url = f"smtp://127.0.0.1:{port}"
    return controller, inbox


@pytest.fixture
def smtp_server(app, monkeypatch):
    controller, inbox = _smtp(refuse=False)
    monkeypatch.setitem(app.config, "SMTP_URL", inbox.url)
    yield inbox
    controller.stop()


@pytest.fixture
def refusing_smtp_server(app, monkeypatch):
    controller, inbox = _smtp(refuse=True)
    monkeypatch.setitem(app.config, "SMTP_URL", inbox.url)
    yield inbox
    controller.stop()


def partitions() -> tuple[str, str]:
    """The last complete month, and a complete week inside it."""
    from pipelines.partitions import MONTHLY, WEEKLY

    month = MONTHLY.get_last_partition_key()
    week = next(k for k in WEEKLY.get_partition_keys() if k.startswith(month[:7]))
    return week, month


@pytest.fixture
def seeded(app, flow, api_as, session, refs, tmp_path, monkeypatch):  # noqa: F811
    """TATA: two jobs installed, closed and paid, one surveyed, one new lead; MG: one lead (outside the week).
    Calls and tickets for the agent. Then every timestamp moves into the chosen week (one MG lead and one
    call to another day of the month), so the weekly and the monthly figures differ."""
    from app.models.installations import InstallationJob, InstallationReport, Lead, Payout, SurveyReport
    from app.models.support import Call, Ticket
    from app.models.people import FieldTeam  # noqa: F401
    from tests.support.conftest import user_id

    monkeypatch.setitem(app.config, "VAR_DIR", tmp_path)
    jobs = []
    for n, (ref, serial) in enumerate((("TM-901", "S-901"), ("TM-902", "S-902"))):
        job_id = flow.lead(ref)
        flow.documents(job_id)
        flow.survey(job_id, offset=2 + n)
        flow.survey_done(job_id)
        flow.do("centralops", job_id, "review", site_ready=True)
        flow.materials(job_id, refs)
        flow.install(job_id, serial=serial, offset=7 + n)
        flow.close(job_id)
        jobs.append(job_id)
    surveyed = flow.lead("TM-903")
    flow.documents(surveyed)
    flow.survey(surveyed, offset=4)
    flow.survey_done(surveyed)
    flow.lead("TM-904")
    mg = flow.lead("MG-901", user="oem_mg")
    north = team_id(session, "Team Colombo North")
    paid = api_as("finance").post("/api/v1/payouts/release", json={"team_id": north, "reference": "TX-901"})
    assert paid.status_code == 201, paid.get_data(as_text=True)

    week, month = partitions()
    monday = datetime.fromisoformat(week) + timedelta(hours=9)
    elsewhere = datetime.fromisoformat(month) + timedelta(hours=9)
    if elsewhere.date() >= monday.date():
        elsewhere = monday + timedelta(days=8)  # still in the month: the week is its first full one
    agent = user_id(session, "agent")
    session.add_all([Call(caller_phone="+94771234567", category="Payment Issues", agent_id=agent, summary="") for _ in range(3)])
    session.add(Call(caller_phone="+94771234567", category="Complaints", agent_id=agent, summary="", created_at=elsewhere))
    session.add(Ticket(title="on time", status="Resolved", priority="High", assignee_id=agent, created_at=monday, updated_at=monday,
                       resolved_at=monday + timedelta(hours=2), resolution_due=monday + timedelta(hours=4), resolve_minutes=120))
    session.add(Ticket(title="late", status="Resolved", priority="High", assignee_id=agent, created_at=monday, updated_at=monday,
                       resolved_at=monday + timedelta(hours=9), resolution_due=monday + timedelta(hours=4), resolve_minutes=540))
    session.flush()
    session.execute(update(Call).where(Call.created_at != elsewhere).values(created_at=monday + timedelta(days=1)))
    leads = {ref: lid for ref, lid in session.execute(select(Lead.oem_ref, Lead.id))}
    session.execute(update(Lead).values(created_at=monday))
    session.execute(update(Lead).where(Lead.oem_ref == "TM-902").values(created_at=monday + timedelta(days=1)))
    session.execute(update(Lead).where(Lead.oem_ref == "MG-901").values(created_at=elsewhere))
    session.execute(update(InstallationJob).values(stage_changed_at=monday + timedelta(days=2)))
    session.execute(update(SurveyReport).values(submitted_at=monday + timedelta(days=1)))
    session.execute(update(InstallationReport).values(submitted_at=monday + timedelta(days=2, hours=5)))
    session.execute(update(Payout).values(created_at=monday + timedelta(days=4)))
    session.commit()
    return {"week": week, "month": month, "jobs": jobs, "mg": mg, "leads": leads, "agent": agent, "north": north}
