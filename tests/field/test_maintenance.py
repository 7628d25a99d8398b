"""Maintenance planning: routine tasks repeat from completion, the L2/L3 (and kind/status/site/assignee)
filter, overdue reminders once a day, the month calendar."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import func, select

from app.models.field import MaintenanceTask
from app.models.messaging import Notification
from app.services.field_maintenance import complete_task, plan_task, remind_overdue
from tests.field.conftest import user_id


def test_routine_maintenance_repeats_from_completion_not_from_the_due_date(session, make_charger):
    make_charger("MT-1", site="Galle")
    task = plan_task(session, {"kind": "Routine", "charger_cid": "MT-1", "due_date": "2026-01-10", "repeat_days": 30,
                               "checklist": ["Clean the filter", "Check the RCD"]}, None)
    session.commit()
    assert task.site == "Galle" and [i["done"] for i in task.checklist] == [False, False]
    done, nxt = complete_task(session, task.id, None, report="All fine", readings={"voltage_v": 231},
                              checklist_done=[0, 1], completed_at=datetime(2026, 1, 15, 9, 30))
    session.commit()
    assert done.status == "Done" and done.readings == {"voltage_v": "231"} and all(i["done"] for i in done.checklist)
    assert nxt.due_date == date(2026, 2, 14) and nxt.previous_id == task.id and nxt.repeat_days == 30
    assert [i["item"] for i in nxt.checklist] == ["Clean the filter", "Check the RCD"] and nxt.status == "Planned"
    # the next one repeats from its own completion
    _, third = complete_task(session, nxt.id, None, completed_at=datetime(2026, 2, 20, 10, 0))
    session.commit()
    assert third.due_date == date(2026, 3, 22)
    # a one-off repair does not repeat
    repair = plan_task(session, {"kind": "Repair", "charger_cid": "MT-1", "due_date": "2026-01-11"}, None)
    assert complete_task(session, repair.id, None)[1] is None


def test_the_list_filters_by_l2_l3_kind_status_site_and_assignee(api_as, session, make_charger):
    make_charger("MT-L2", type="L2", site="Kandy")
    make_charger("MT-L3", type="L3", site="Negombo")
    api = api_as("cpo")
    installer = user_id(session, "installer")
    for body in (
        {"charger_cid": "MT-L2", "kind": "Routine", "due_date": "2026-05-01", "assignee_id": installer},
        {"charger_cid": "MT-L3", "kind": "Inspection", "due_date": "2026-05-02"},
        {"charger_cid": "MT-L3", "kind": "Repair", "due_date": "2026-05-03"},
        {"site": "Kandy", "kind": "Inspection", "due_date": "2026-05-04"},  # a whole-site task at an L2 site
    ):
        assert api.post("/api/v1/maintenance/", json=body).status_code == 201
    def cids(query):
        got = api.get(f"/api/v1/maintenance/?{query}")
        assert got.status_code == 200, got.json
        return [(t["charger_cid"] or t["site"], t["kind"]) for t in got.json["result"]]
    assert cids("type=L2") == [("MT-L2", "Routine"), ("Kandy", "Inspection")]
    assert cids("type=L3") == [("MT-L3", "Inspection"), ("MT-L3", "Repair")]
    assert cids("type=L3&kind=Repair") == [("MT-L3", "Repair")]
    assert cids("site=Kandy&kind=Inspection") == [("Kandy", "Inspection")]
    assert cids(f"assignee_id={installer}") == [("MT-L2", "Routine")]
    assert cids("status=Done") == []
    assert api.get("/api/v1/maintenance/?type=L4").status_code == 400
    assert api.post("/api/v1/maintenance/", json={"charger_cid": "MT-L2", "kind": "Polish", "due_date": "2026-05-01"}).status_code == 400
    assert api.post("/api/v1/maintenance/", json={"kind": "Routine", "due_date": "2026-05-01"}).status_code == 400
    assert api_as("agent").get("/api/v1/maintenance/").status_code == 403


def test_overdue_tasks_remind_their_assignee_once_a_day(session, make_charger):
    make_charger("MT-2")
    installer = user_id(session, "installer")
    task = plan_task(session, {"kind": "Repair", "charger_cid": "MT-2", "due_date": "2026-04-01", "assignee_id": installer}, None)
    session.commit()
    assert remind_overdue(session, today=date(2026, 4, 1)) == 0  # due today is not overdue
    assert remind_overdue(session, today=date(2026, 4, 2)) == 1
    assert remind_overdue(session, today=date(2026, 4, 2)) == 0
    assert remind_overdue(session, today=date(2026, 4, 3)) == 1
    session.commit()
    complete_task(session, task.id, installer)
    session.commit()
    assert remind_overdue(session, today=date(2026, 4, 9)) == 0
    assert session.scalar(select(func.count()).select_from(Notification).where(Notification.kind == "maintenance_overdue")) == 2


def test_the_calendar_is_a_month_grid_rendered_by_the_server(web_as, session, make_charger):
    make_charger("MT-3", type="L3")
    plan_task(session, {"kind": "Emergency", "charger_cid": "MT-3", "due_date": "2026-06-17"}, None)
    session.commit()
    browser = web_as("installer")
    html = browser.get("/field/maintenance/calendar/?month=2026-06").get_data(as_text=True)
    assert "June 2026" in html and 'data-date="2026-06-17"' in html and "Emergency MT-3" in html
    assert 'data-date="2026-06-01"' in html  # the grid starts on the Monday of the first week
    assert "Emergency MT-3" not in browser.get("/field/maintenance/calendar/?month=2026-06&type=L2").get_data(as_text=True)
    assert web_as("finance").get("/field/maintenance/calendar/").status_code == 403


def test_the_completion_report_from_the_task_page_with_a_photo_and_readings(web_as, session, make_charger):
    import io

    from tests.conftest import csrf_token

    make_charger("MT-4", site="Matara")
    task = plan_task(session, {"kind": "Inspection", "charger_cid": "MT-4", "due_date": "2026-08-01", "repeat_days": 90,
                               "checklist": ["Torque the terminals"]}, None)
    session.commit()
    browser = web_as("installer")
    page = browser.get(f"/field/maintenance/{task.id}").get_data(as_text=True)
    assert "Torque the terminals" in page and "Audit trail" in page
    sent = browser.post(f"/field/maintenance/{task.id}/complete", content_type="multipart/form-data", data={
        "csrf_token": csrf_token(page), "done": "0", "report": "Terminals torqued", "reading_name": ["voltage_v", ""],
        "reading_value": ["229", ""], "photo": (io.BytesIO(b"\xff\xd8\xff" + b"\x00" * 32), "t.jpg")})
    assert sent.status_code == 302
    session.rollback()
    done = session.get(MaintenanceTask, task.id)
    assert done.status == "Done" and done.readings == {"voltage_v": "229"} and len(done.photos) == 1
    assert done.checklist[0]["done"] is True
    nxt = session.scalar(select(MaintenanceTask).where(MaintenanceTask.previous_id == task.id))
    assert nxt is not None and nxt.repeat_days == 90
    assert browser.get(f"/field/maintenance/photos/{done.photos[0].id}").status_code == 200
