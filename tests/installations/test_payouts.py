"""Field-team payouts: per the team's schedule, a job is never paid twice."""
from __future__ import annotations

import threading
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select

from tests.installations.conftest import job, team_id


def _payable_job(flow, refs, ref, serial, offset):
    job_id = flow.lead(ref)
    flow.documents(job_id)
    flow.survey(job_id, offset=offset)
    flow.survey_done(job_id)
    flow.do("centralops", job_id, "review", site_ready=True)
    flow.materials(job_id, refs)
    flow.install(job_id, serial=serial, offset=offset + 5)
    flow.close(job_id)
    return job_id


def test_a_job_is_never_paid_twice(app, flow, api_as, session, refs):
    from app.extensions import db
    from app.models.installations import PayoutItem
    from app.services import Conflict
    from app.services.installations_payouts import release_payouts

    first = _payable_job(flow, refs, "TM-600", "S-600", 2)
    north = team_id(session, "Team Colombo North")
    finance = api_as("finance")
    assert api_as("centralops").post("/api/v1/payouts/release", json={"team_id": north, "reference": "X"}).status_code == 403
    paid = finance.post("/api/v1/payouts/release", json={"team_id": north, "reference": "TX-1"})
    assert paid.status_code == 201 and paid.json["result"][0]["jobs"] == [first]
    again = finance.post("/api/v1/payouts/release", json={"team_id": north, "reference": "TX-2"})
    assert again.status_code == 409
    assert session.scalar(select(func.count()).select_from(PayoutItem)) == 1
    assert finance.post("/api/v1/payouts/release", json={"team_id": north, "reference": ""}).status_code == 400

    # two Finance users releasing the same due job at the same moment: one payout
    second = _payable_job(flow, refs, "TM-601", "S-601", 3)
    user = app.appbuilder.sm.find_user(username="finance")
    results, barrier = [], threading.Barrier(2)

    def release(ref):
        with app.app_context():
            barrier.wait()
            try:
                release_payouts(db.session, north, ref, db.session.merge(user))
                db.session.commit()
                results.append("ok")
            except Conflict:
                db.session.rollback()
                results.append("conflict")
            except Exception as exc:  # SQLite may surface the lock itself: still nothing paid twice
                db.session.rollback()
                results.append(type(exc).__name__)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=release, args=(f"TX-C{n}",)) for n in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert results.count("ok") == 1, results
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(PayoutItem).where(PayoutItem.job_id == second)) == 1
    assert job(session, second).stage == "Paid"


def test_monthly_teams_are_paid_per_closed_month(flow, session, refs, app):
    from app.models.installations import InstallationJob
    from app.models.people import FieldTeam, PaymentSchedule
    from app.services.installations_payouts import due_payouts, period_of

    assert period_of(PaymentSchedule.FORTNIGHTLY, datetime(2026, 2, 20).date()) == (datetime(2026, 2, 16).date(), datetime(2026, 2, 28).date())
    assert period_of(PaymentSchedule.MONTHLY, datetime(2026, 2, 3).date())[1] == datetime(2026, 2, 28).date()
    north = session.get(FieldTeam, team_id(session, "Team Colombo North"))
    north.payment_schedule = PaymentSchedule.MONTHLY
    session.commit()
    job_id = _payable_job(flow, refs, "TM-602", "S-602", 2)
    payable = job(session, job_id)
    payable.payable_at = datetime(2026, 3, 10, 9, 0)
    session.commit()
    assert due_payouts(session, north.id, as_of=datetime(2026, 3, 20).date()) == []  # March is still running
    due = due_payouts(session, north.id, as_of=datetime(2026, 4, 1).date())
    assert len(due) == 1 and due[0]["period_start"].isoformat() == "2026-03-01"
    assert due[0]["amount"] == Decimal("16500.00")
