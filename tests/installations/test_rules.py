"""The transition table's refusals, double booking, site not ready then ready, local procurement."""
from __future__ import annotations

import threading

from sqlalchemy import func, select

from tests.installations.conftest import PNG, day, job, team_id


def test_illegal_transitions_are_409_with_a_reason(flow, session):
    from app.services import installations

    job_id = flow.lead("TM-300")
    skip = flow.act("centralops", job_id, "transition", to=installations.SURVEY_DONE)
    assert skip.status_code == 409
    assert "'Lead logged' and cannot move to 'Survey done'" in skip.json["message"]

    # documents missing: no survey scheduling before bill, location and electrician are in
    flow.do("centralops", job_id, "call", purpose="intro", outcome="reached")
    early = flow.act("centralops", job_id, "transition", to=installations.DOCUMENTS_COMPLETE)
    assert early.status_code == 409
    assert "electricity bill" in early.json["message"] and "electrician" in early.json["message"]
    schedule = flow.act("dispatcher", job_id, "schedule", kind="survey", date=day(2), slot="morning")
    assert schedule.status_code == 409 and "scheduled from" in schedule.json["message"]

    # the wrong role is refused too, and nothing changes
    flow.documents(job_id)
    wrong_role = flow.act("procurement", job_id, "schedule", kind="survey", date=day(2), slot="morning")
    assert wrong_role.status_code == 403
    assert job(session, job_id).stage == installations.DOCUMENTS_COMPLETE
    # installing before a survey
    assert flow.act("fieldteam", job_id, "installation_report", charger_serial="X", ocpp_identity="Y", demo_given=True).status_code == 404
    # bad input is a 400 with a message
    bad = flow.act("dispatcher", job_id, "schedule", kind="survey", date="tomorrow", slot="morning")
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.json["message"]


def test_double_booking_is_refused(flow, session):
    first = flow.lead("TM-301")
    second = flow.lead("TM-302")
    for job_id in (first, second):
        flow.documents(job_id)
        flow.do("dispatcher", job_id, "schedule", kind="survey", date=day(4), slot="afternoon")
    north = team_id(session, "Team Colombo North")
    flow.do("dispatcher", first, "assign", kind="survey", team_id=north)
    refused = flow.act("dispatcher", second, "assign", kind="survey", team_id=north)
    assert refused.status_code == 409 and "double booking" in refused.json["message"]
    # a team outside the area, or without the skill, is refused with the reason
    kandy = flow.act("dispatcher", second, "assign", kind="survey", team_id=team_id(session, "Team Kandy"))
    assert kandy.status_code == 409 and "does not serve Colombo" in kandy.json["message"]


def test_double_booking_refused_under_concurrency(app, flow, session):
    """Two assignments of the same team and slot at the same moment: exactly one wins (the unique key)."""
    from app.extensions import db
    from app.models.installations import TeamBooking
    from app.services import installations
    from app.services.installations_scheduling import assign_team
    from app.services import Conflict

    dispatcher = app.appbuilder.sm.find_user(username="dispatcher")
    job_ids = []
    for n in range(2):
        job_id = flow.lead(f"C-{n}")
        flow.documents(job_id)
        flow.do("dispatcher", job_id, "schedule", kind="survey", date=day(5), slot="morning")
        job_ids.append(job_id)
    session.commit()
    north = team_id(session, "Team Colombo North")
    results = []
    barrier = threading.Barrier(2)

    def assign(job_id):
        with app.app_context():
            user = db.session.merge(dispatcher)
            job = db.session.get(installations.InstallationJob, job_id)
            barrier.wait()
            try:
                assign_team(db.session, job, "survey", north, user)
                db.session.commit()
                results.append("ok")
            except Conflict:
                db.session.rollback()
                results.append("conflict")
            except Exception as exc:  # SQLite may report the lock instead: still refused
                db.session.rollback()
                results.append(f"error {type(exc).__name__}")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=assign, args=(j,)) for j in job_ids]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert results.count("ok") == 1, results
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(TeamBooking).where(TeamBooking.team_id == north)) == 1


def test_site_not_ready_then_customer_confirms_ready(flow, session, client):
    from app.models.installations import JobMessage
    from app.services import installations
    from app.services.installations_uploads import upload_token
    from tests.conftest import csrf_token

    job_id = flow.lead("TM-303")
    flow.documents(job_id)
    flow.survey(job_id)
    flow.survey_done(job_id)
    unknown = flow.act("centralops", job_id, "review", site_ready=False, required_work=["paint the wall"])
    assert unknown.status_code == 400
    flow.do("centralops", job_id, "review", site_ready=False, required_work=["electrical load upgrade", "earthing"],
            note="Sanctioned load is 3 kW")
    current = job(session, job_id)
    assert current.stage == installations.SITE_NOT_READY and current.required_work == "electrical load upgrade, earthing"
    told = session.scalar(select(JobMessage).where(JobMessage.job_id == job_id, JobMessage.template == "site_not_ready"))
    assert "electrical load upgrade, earthing" in told.body
    # the job waits: materials cannot be checked yet
    assert flow.act("centralops", job_id, "request_check").status_code == 409

    # the customer confirms on their link page
    token = upload_token(current)
    page = client.get(f"/installations/upload/{token}").get_data(as_text=True)
    assert "Site ready" in page or "site is ready" in page
    done = client.post(f"/installations/upload/{token}", data={"site_ready": "1", "csrf_token": csrf_token(page)})
    assert done.status_code == 200, done.get_data(as_text=True)
    current = job(session, job_id)
    assert current.stage == installations.SITE_READY and current.events[-1].actor == "customer"


def test_local_procurement_with_direct_vendor_payment(flow, api_as, session, refs):
    from app.models.installations import StockLevel, VendorPayment, VendorPurchase
    from app.services import installations

    job_id = flow.lead("TM-304")
    flow.to_site_ready(job_id)
    # the Kandy store has no 22 kW chargers
    kandy = refs["locations"]["Kandy store"]
    charger = refs["materials"]["CHG-AC22"]
    session.query(StockLevel).filter_by(location_id=kandy.id, material_id=charger.id).update({"quantity": 0})
    session.commit()
    flow.do("centralops", job_id, "bom", lines={"CHG-AC22": 1, "CBL-10MM": 20})
    checked = flow.do("procurement", job_id, "check_materials", location_id=kandy.id)
    assert "Short: 1 x CHG-AC22" in checked["message"]
    allocate = flow.act("procurement", job_id, "allocate", team_id=team_id(session, "Team Colombo North"))
    assert allocate.status_code == 409
    flow.do("procurement", job_id, "local_procurement", note="Buy from a Colombo dealer")
    assert job(session, job_id).stage == installations.LOCAL_PROCUREMENT

    # installation cannot be scheduled before Finance pays the vendor
    blocked = flow.act("centralops", job_id, "schedule", kind="installation", date=day(7), slot="morning")
    assert blocked.status_code == 409
    response = api_as("fieldteam").post(f"/api/v1/jobs/{job_id}/vendor_purchase", data={
        "vendor_name": "Lanka EV Supplies", "items": "1 x 22 kW charger", "amount": "318500.00",
        "upi_id": "lankaev@okbank", "vendor_qr": (__import__("io").BytesIO(PNG), "qr.png"),
    }, content_type="multipart/form-data")
    assert response.status_code == 200, response.get_data(as_text=True)
    purchase = session.scalar(select(VendorPurchase).where(VendorPurchase.job_id == job_id))
    assert purchase.qr_file_id is not None and purchase.status == "awaiting payment"
    blocked = flow.act("centralops", job_id, "schedule", kind="installation", date=day(7), slot="morning")
    assert blocked.status_code == 409 and "Lanka EV Supplies" in blocked.json["message"]

    assert flow.act("fieldteam", job_id, "pay_vendor", purchase_id=purchase.id, reference="UPI-1").status_code == 403
    flow.do("finance", job_id, "pay_vendor", purchase_id=purchase.id, reference="UPI-778899")
    again = flow.act("finance", job_id, "pay_vendor", purchase_id=purchase.id, reference="UPI-778800")
    assert again.status_code == 409
    session.expire_all()
    payment = session.scalar(select(VendorPayment).where(VendorPayment.job_id == job_id))
    assert payment.amount == purchase.amount and payment.reference == "UPI-778899"
    flow.do("centralops", job_id, "schedule", kind="installation", date=day(7), slot="morning")
    assert job(session, job_id).stage == installations.INSTALLATION_SCHEDULED


def test_stock_never_goes_negative(flow, session, refs):
    from app.models.installations import StockLevel

    job_id = flow.lead("TM-305")
    flow.to_site_ready(job_id)
    colombo = refs["locations"]["Colombo warehouse"]
    flow.do("centralops", job_id, "request_check")
    flow.do("procurement", job_id, "check_materials", location_id=colombo.id)
    # the stock is taken by someone else between the check and the allocation
    session.query(StockLevel).filter_by(location_id=colombo.id, material_id=refs["materials"]["MNT-WALL"].id).update({"quantity": 0})
    session.commit()
    refused = flow.act("procurement", job_id, "allocate", team_id=team_id(session, "Team Colombo North"))
    assert refused.status_code == 409 and "MNT-WALL" in refused.json["message"]
    session.expire_all()
    charger = session.query(StockLevel).filter_by(location_id=colombo.id, material_id=refs["materials"]["CHG-AC7"].id).one()
    assert charger.quantity == 40  # the lines taken before the short one were rolled back


def test_hold_resume_and_cancel_are_audited(flow, session):
    from app.services import installations

    job_id = flow.lead("TM-306")
    assert flow.act("centralops", job_id, "transition", to=installations.ON_HOLD).status_code == 400  # a reason is required
    flow.do("centralops", job_id, "transition", to=installations.ON_HOLD, comment="Customer travelling")
    assert flow.act("centralops", job_id, "transition", to=installations.SURVEY_DONE).status_code == 409
    flow.do("centralops", job_id, "transition", to=installations.LEAD_LOGGED, comment="Back")
    flow.do("centralops", job_id, "transition", to=installations.CANCELLED, comment="Bought elsewhere")
    events = job(session, job_id).events
    assert [(e.from_stage, e.to_stage) for e in events[-3:]] == [
        (installations.LEAD_LOGGED, installations.ON_HOLD), (installations.ON_HOLD, installations.LEAD_LOGGED), (installations.LEAD_LOGGED, installations.CANCELLED)]
    assert events[-1].comment == "Bought elsewhere" and events[-1].actor == "centralops"


def test_no_action_answers_bad_input_with_a_5xx(flow, api_as):
    from app.services.installations_actions import ACTIONS

    job_id = flow.lead("TM-390")
    ops = api_as("admin")
    junk = [{}, {"kind": "boat", "team_id": "x", "date": 5, "slot": None, "location_id": "abc", "purchase_id": "abc",
                 "to": "Nowhere", "lines": "nonsense", "amount": "ten", "required_work": 7, "checklist": "x", "team": []}]
    for action in ACTIONS:
        for body in junk:
            response = ops.post(f"/api/v1/jobs/{job_id}/{action}", json=body)
            assert response.status_code < 500, (action, body, response.status_code, response.get_data(as_text=True)[:300])
            assert response.json.get("message"), (action, body)
    assert ops.post(f"/api/v1/jobs/{job_id}/call", json=[1, 2]).status_code == 400
    assert ops.post(f"/api/v1/jobs/{job_id}/nonsense", json={}).status_code == 404
    assert ops.post("/api/v1/jobs/99999/call", json={}).status_code == 404


def test_visit_kind_names_the_visit_the_stage_is_on():
    from app.models.installations import InstallationJob
    from app.services import installations
    from app.services.installations_scheduling import visit_kind

    assert visit_kind(InstallationJob(stage=installations.SURVEY_ASSIGNED)) == "survey"
    assert visit_kind(InstallationJob(stage=installations.DOCUMENTS_COMPLETE)) == "survey"
    assert visit_kind(InstallationJob(stage=installations.MATERIALS_ALLOCATED)) == "installation"
    assert visit_kind(InstallationJob(stage=installations.INSTALLATION_ASSIGNED)) == "installation"
