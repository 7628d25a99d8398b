"""`flask seed-demo` tells one consistent story: each rule a person would notice, checked on the seeded data."""
from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from sqlalchemy import func, select

from app.models.base import utcnow
from app.models.chargers import Charger, ChargingSession
from app.models.chargers_ocpp import ChargerOcppLink
from app.models.customers import CustomerTag, Wallet, WalletEntry
from app.models.installations import (
    BomLine, InstallationJob, JobMessage, JobVisit, Payout, PayoutItem, StockLevel, StockMove,
)
from app.models.messaging import Message, MessageTemplate
from app.models.people import FieldTeam, PaymentSchedule
from app.models.support import Call, CustomerRequest, Ticket
from app.services.installations import INSTALLED, PAID
from app.services.installations_payouts import period_of
from app.services.messaging import render_template_body

ROOT = Path(__file__).resolve().parent.parent
CHARGER_ID = re.compile(r"\b(?:LK|CP|SIM)-[A-Z0-9]+-\d+\b")


def _seed(app):
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output + repr(result.exception)


def test_the_seeded_demo_is_one_consistent_story(app, session, web_as):
    _seed(app)
    registry = set(session.scalars(select(Charger.cid).where(Charger.unregistered.is_(False))))
    assert len(registry) > 195

    # calls, tickets and requests name chargers of the registry
    refs = session.scalars(select(Call.charger_ref).where(Call.charger_ref.is_not(None))).all()
    assert refs and set(refs) <= registry
    for text in session.scalars(select(Ticket.title)).all() + session.scalars(select(CustomerRequest.text)).all():
        assert set(CHARGER_ID.findall(text)) <= registry, text
    for body in session.scalars(select(Message.body)):
        assert set(CHARGER_ID.findall(body)) <= registry, body

    # every wallet charge cites a session that exists, started with the customer's own tag
    sessions = {s.transaction_id: s for s in session.scalars(select(ChargingSession))}
    tags = defaultdict(set)
    for customer_id, tag in session.execute(select(CustomerTag.customer_id, CustomerTag.tag)):
        tags[customer_id].add(tag)
    charges = session.execute(
        select(WalletEntry.source_ref, Wallet.customer_id).join(Wallet, Wallet.id == WalletEntry.wallet_id)
        .where(WalletEntry.source_type == "session")
    ).all()
    assert len(charges) > 1000
    for ref, customer_id in charges:
        cited = sessions.get(int(ref.removeprefix("SES-")))
        assert cited is not None, ref
        assert cited.id_tag in tags[customer_id] and cited.status == "Completed"
    # ... and the customer page lists them
    customer_id = charges[0][1]
    page = web_as("manager").get(f"/customer/{customer_id}").get_data(as_text=True)
    assert "No charging sessions yet" not in page and "Charging sessions" in page

    # no visit is done in the future, nor after the job was moved on
    today = utcnow().date()
    done = session.scalars(select(JobVisit).where(JobVisit.status == "done")).all()
    assert done and all(v.visit_date <= today for v in done)

    # payouts follow the team's schedule: one per job, or one per closed fortnight / month
    teams = {t.id: t for t in session.scalars(select(FieldTeam))}
    payouts = session.scalars(select(Payout)).all()
    assert payouts
    schedules = set()
    for payout in payouts:
        team = teams[payout.team_id]
        schedules.add(team.payment_schedule)
        items = session.scalars(select(PayoutItem).where(PayoutItem.payout_id == payout.id)).all()
        assert items and payout.amount == sum(i.amount for i in items)
        if team.payment_schedule == PaymentSchedule.PER_JOB:
            assert len(items) == 1
        else:
            assert payout.created_at.date() > payout.period_end  # released once the period closed
        for item in items:
            job = session.get(InstallationJob, item.job_id)
            assert period_of(team.payment_schedule, job.payable_at.date()) == (payout.period_start, payout.period_end)
            assert job.stage == PAID and job.paid_at <= utcnow()
            installer = session.scalar(select(JobVisit.team_id).where(
                JobVisit.job_id == job.id, JobVisit.kind == "installation", JobVisit.status == "done"))
            assert installer == team.id
            assert item.installation_amount == team.installation_rate
    assert len(schedules) >= 2
    paid_jobs = session.scalar(select(func.count()).select_from(InstallationJob).where(InstallationJob.stage == PAID))
    assert paid_jobs == session.scalar(select(func.count()).select_from(PayoutItem))

    # stock moves with installations: the ledger adds up to every level, allocations leave the store
    moved = dict(((m, l), q) for m, l, q in session.execute(
        select(StockMove.material_id, StockMove.location_id, func.sum(StockMove.quantity))
        .group_by(StockMove.material_id, StockMove.location_id)))
    for level in session.scalars(select(StockLevel)):
        assert moved.get((level.material_id, level.location_id), 0) == level.quantity
        assert level.quantity >= 0
    allocated_jobs = set(session.scalars(select(BomLine.job_id).where(BomLine.allocated.is_(True))))
    assert allocated_jobs
    assert allocated_jobs == set(session.scalars(select(StockMove.job_id).where(StockMove.quantity < 0)))

    # installed chargers are in the registry
    identities = session.scalars(select(InstallationJob.ocpp_identity).where(InstallationJob.ocpp_identity.is_not(None))).all()
    assert identities and set(identities) <= registry
    installed_or_later = session.scalars(select(InstallationJob).where(InstallationJob.charger_serial.is_not(None))).all()
    assert all(j.stage != INSTALLED or j.ocpp_identity for j in installed_or_later)

    # no message greets twice, neither as seeded nor as the "installation_update" template sends a job notice
    template = session.scalar(select(MessageTemplate).where(MessageTemplate.code == "installation_update"))
    from app.formatting import without_greeting

    for body in session.scalars(select(Message.body)):
        assert len(re.findall(r"\bHello\b", body)) <= 1, body
    for job_message in session.scalars(select(JobMessage).limit(50)):
        sent = render_template_body(template, {"name": "Kamal", "update": without_greeting(job_message.body)})
        assert len(re.findall(r"\bHello\b", sent)) == 1, sent

    # no seeded inbound message waits for a classification
    assert not session.scalar(select(func.count()).select_from(Message).where(
        Message.direction == "inbound", Message.classified_at.is_(None)))

    # the simulator plays the whole registry, and each charger can sign in to the gateway
    simulator = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("simulator:"))
    assert "--all" in simulator.split() and "--chargers" not in simulator
    without_password = session.scalar(
        select(func.count()).select_from(Charger)
        .outerjoin(ChargerOcppLink, ChargerOcppLink.charger_id == Charger.id)
        .where(Charger.unregistered.is_(False), ChargerOcppLink.password_hash.is_(None)))
    assert without_password == 0
