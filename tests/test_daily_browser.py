"""Playwright: the busy screens as people use them, on a desk screen and on a phone (390x844)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.models.base import utcnow
from tests.conftest import browser_login, screenshot

PHONE = {"width": 390, "height": 844}
SIDEWAYS = "document.documentElement.scrollWidth"


@pytest.fixture
def desk_data(session):
    from flask_appbuilder.security.sqla.models import User

    from app.models.chargers import Charger, Connector
    from app.models.customers import Customer
    from app.services import support_calls, support_tickets

    now = utcnow()
    customer = Customer(name="Kamal Perera", phone="+94771230001", email="kamal.perera@example.com",
                        address="12 Galle Road, Colombo 03")
    charger = Charger(cid="LK-CCC02-01", name="Colombo City Centre #1", type="L2", power_kw=22.0, vendor="ABB",
                      model="Terra AC W22", serial="ABB123456", site="Colombo City Centre", address="Colombo City Centre, Colombo 02",
                      heartbeat_interval=60, last_seen=now, offline_after=now + timedelta(minutes=5), offline=False, created_at=now)
    session.add_all([customer, charger])
    session.flush()
    session.add(Connector(charger_id=charger.id, connector_id=1, status="Available", error_code="NoError", updated_at=now))
    agent = session.scalar(select(User.id).where(User.username == "agent"))
    call = support_calls.log_call(session, caller_phone="0771230001", category="Charger Faults", agent_id=agent,
                         summary="Screen blank on LK-CCC02-01", charger_ref="LK-CCC02-01")
    ticket = support_tickets.open_ticket(session, title="Charger Faults: screen blank on LK-CCC02-01 since the morning rush",
                              priority="High", category="Charger Faults", customer_id=customer.id, assignee_id=agent,
                              charger_ref="LK-CCC02-01", description="The caller could not start a session.")
    session.commit()
    return {"customer": customer.id, "ticket": ticket.id, "call": call.id, "charger": charger.cid}


def _fits(page) -> tuple[int, int]:
    return page.evaluate(SIDEWAYS), page.evaluate("window.innerWidth")


def test_the_phone_screens_have_no_sideways_scroll_at_390x844(page, desk_data):
    browser_login(page, "manager")
    page.set_viewport_size(PHONE)
    for name, url in (
        ("log-call", "/support/calls/new"),
        ("customer", f"/customer/{desk_data['customer']}"),
        ("ticket", f"/support/tickets/{desk_data['ticket']}"),
        ("charger", f"/chargers/network/{desk_data['charger']}"),
    ):
        response = page.goto(url)
        assert response.status == 200, url
        page.wait_for_load_state("networkidle")
        width, viewport = _fits(page)
        screenshot(page, f"phone-{name}")
        assert width <= viewport, f"{url}: {width}px wide on a {viewport}px phone"
        if name == "charger":  # live times in local time, as everywhere else, not the API's UTC ISO strings
            page.wait_for_function("() => document.getElementById('facts').textContent.indexOf('last seen') >= 0")
            facts = page.locator("#facts").inner_text()
            assert "T" not in facts.split("last seen ")[1].split(" ·")[0] and "Z" not in facts.split("·")[0]


def test_the_call_screen_card_fills_in_as_the_number_is_typed(page, desk_data):
    browser_login(page, "agent")
    page.goto("/support/calls/new")
    assert page.locator("#category").input_value() == ""  # no category preselected
    page.fill("#caller_phone", "077 123 0001")
    page.wait_for_selector("#cc-link")
    card = page.locator("#customer-card-body").inner_text()
    assert "Kamal Perera" in card and "Charger Faults: screen blank" in card and "Screen blank on LK-CCC02-01" in card
    screenshot(page, "call-screen-card")
    page.click("#cc-link")
    page.wait_for_load_state("networkidle")
    assert page.url.endswith(f"/customer/{desk_data['customer']}")


def test_top_ups_name_the_customer_before_crediting(page, desk_data):
    browser_login(page, "finance")
    page.goto("/topups/")
    page.fill("#customer", "0771230001")
    page.wait_for_selector("#resolved-customer")
    assert "Kamal Perera" in page.locator("#customer-name").inner_text()
    page.fill("#customer", "0779999999")
    page.wait_for_selector("#unresolved-customer")
    assert "nothing would be credited" in page.locator("#customer-name").inner_text()


def test_the_inbox_list_refreshes_by_itself_and_failed_sends_look_failed(page, session, desk_data):
    from app.demo.messaging import seed_templates
    from app.services import messaging_outbound

    browser_login(page, "manager")
    page.goto("/messaging/inbox/?box=all")
    seed_templates(session)
    messaging_outbound.send_whatsapp(session, to="+94771230001", template="installation_update",
                            variables={"name": "Kamal", "update": "the survey is booked"}, customer_id=desk_data["customer"],
                            idempotency_key="browser-unconfigured-1")
    session.commit()
    page.wait_for_selector("tr.send-failed", timeout=60000)  # the list's own refresh brings it in, no reload
    row = page.locator("tr.send-failed")
    assert "not sent: WhatsApp not configured" in row.inner_text()
    assert row.locator(".label-danger").count() == 1
    screenshot(page, "inbox-failed-send")


def test_the_installation_board_and_the_oem_portal_fit_a_1440px_screen(page, session):
    from app.demo.installations import seed_reference
    from app.models.installations import Lead

    refs = seed_reference(session)
    for n in range(40):
        session.add(Lead(oem_id=refs["oems"]["TATA"].id, oem_ref=f"FIT-{n:03d}", source="api", customer_name=f"Customer {n}",
                         phone=f"+9477600{n:04d}", district="Colombo", created_at=utcnow()))
    session.commit()
    page.set_viewport_size({"width": 1440, "height": 900})
    browser_login(page, "centralops")
    page.goto("/installations/board")
    width, viewport = _fits(page)
    assert width <= viewport and page.locator("details.io-phase").count() == 6
    screenshot(page, "installations-board-1440")
    page.goto("/logout/")
    browser_login(page, "oem_tata")
    page.goto("/installations/oem/")
    width, viewport = _fits(page)
    assert width <= viewport
    assert page.locator("#oem-leads tr").count() == 26  # heading + one page of 25
    page.click("#older")
    page.wait_for_load_state("networkidle")
    assert "FIT-000" in page.locator("#oem-leads").inner_text()
    screenshot(page, "oem-portal-1440")
