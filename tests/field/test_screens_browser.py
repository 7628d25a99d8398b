"""Playwright, one per new screen: the issue tracker, the maintenance calendar, force charge, the feed."""
from __future__ import annotations

from sqlalchemy import select

from app.models.field import ChargerIssue, ForceCharge
from app.services.field_maintenance import plan_task
from app.services.notifications import notify
from tests.conftest import browser_login, screenshot
from tests.field.conftest import user_id


def test_issue_tracker_open_an_issue_note_it_and_move_it(page, session, make_charger):
    make_charger("PW-ISS-1", site="Kandy")
    browser_login(page, "cpo")
    page.goto("/field/issues/")
    page.fill("#charger_cid", "PW-ISS-1")
    page.fill("#title", "Holster broken")
    page.select_option("#priority", "High")
    page.click("#open-issue")
    page.wait_for_selector("#issue-page")
    assert page.inner_text("#issue-status") == "Open"
    page.fill("#note-body", "Spare part ordered")
    page.click("#add-note")
    page.wait_for_selector("text=Spare part ordered")
    page.click("#move-in-progress")
    page.wait_for_selector("#issue-status:text('In Progress')")
    assert "Audit trail" in page.content()
    screenshot(page, "field-issue")
    page.goto("/field/issues/?open=1")
    assert "Holster broken" in page.inner_text("#issues")
    session.rollback()
    assert session.scalar(select(ChargerIssue.status)) == "In Progress"


def test_maintenance_calendar_shows_the_month_and_filters_l2_l3(page, session, make_charger):
    make_charger("PW-MT-L2", type="L2")
    make_charger("PW-MT-L3", type="L3")
    plan_task(session, {"kind": "Routine", "charger_cid": "PW-MT-L2", "due_date": "2026-07-08"}, None)
    plan_task(session, {"kind": "Repair", "charger_cid": "PW-MT-L3", "due_date": "2026-07-21"}, None)
    session.commit()
    browser_login(page, "installer")
    page.goto("/field/maintenance/calendar/?month=2026-07")
    assert "July 2026" in page.inner_text("h2")
    assert "Routine PW-MT-L2" in page.inner_text("td[data-date='2026-07-08']")
    assert "Repair PW-MT-L3" in page.inner_text("td[data-date='2026-07-21']")
    page.select_option("#filter-type", "L3")
    page.click("#apply-filter")
    page.wait_for_load_state("networkidle")
    assert "July 2026" in page.inner_text("h2")
    assert "PW-MT-L2" not in page.inner_text("#month") and "Repair PW-MT-L3" in page.inner_text("#month")
    page.click("#next-month")
    page.wait_for_load_state("networkidle")
    assert "August 2026" in page.inner_text("h2")
    screenshot(page, "field-maintenance-calendar")


def test_force_charge_finds_the_customer_by_any_spelling_and_starts(page, session, make_charger, make_customer):
    make_charger("PW-FC-1", online=True)
    make_customer(name="Ruwan Jayasuriya", phone="+94771234567", tag="RFID-PW1", balance="900.00")
    browser_login(page, "agent")
    page.goto("/field/force-charge/")
    page.select_option("#cid", "PW-FC-1")
    page.fill("#phone", "077 123 4567")
    page.click("#find")
    page.wait_for_selector("#start-form")
    assert "Ruwan Jayasuriya" in page.inner_text("#start-form") and "900.00" in page.inner_text("#start-form")
    page.select_option("#connector_id", "2")
    page.fill("#amount", "150.00")
    page.click("#start-force-charge")
    page.wait_for_selector("#force-charge-status")
    assert page.inner_text("#fc-status") == "Starting"
    assert "150.00 (held)" in page.content()
    assert page.request.get("/static/js/force_charge.js").status == 200  # the page follows the API from its own script
    screenshot(page, "field-force-charge")
    session.rollback()
    fc = session.scalar(select(ForceCharge))
    assert fc.connector_id == 2 and fc.id_tag == "RFID-PW1" and fc.amount == 150


def test_feed_newest_first_badge_link_and_mark_all_read(page, session, make_charger):
    make_charger("PW-FD-1")
    installer = user_id(session, "installer")
    notify(session, [installer], "test", "Older news")
    notify(session, [installer], "issue_assigned", "Issue to look at", link="/field/issues/")
    session.commit()
    browser_login(page, "installer")
    assert page.inner_text("#unread-badge") == "2"
    page.click("#menu-notifications a")
    page.wait_for_selector("#feed-items")
    titles = page.locator("#feed-items li strong").all_inner_texts()
    assert titles == ["Issue to look at", "Older news"]
    page.click("text=Issue to look at")
    page.wait_for_selector("#issue-tracker")
    assert page.inner_text("#unread-badge") == "1"
    page.goto("/field/feed/")
    page.click("#mark-all-read")
    page.wait_for_selector("#feed-items")
    assert page.locator("#unread-badge").count() == 0
    screenshot(page, "field-feed")
