"""Playwright: an agent logs a call for a known number, sees the customer card, escalates it."""
from __future__ import annotations

from tests.conftest import browser_login, screenshot


def test_agent_logs_a_call_sees_the_card_and_escalates(page, customer):
    browser_login(page, "agent")
    page.goto("/support/calls/new")
    page.fill("#caller_phone", "077 123 4567")
    card = page.locator("#customer-card")
    card.locator(".cc-name").wait_for(timeout=10_000)
    assert "Sunil Perera" in card.inner_text() and "sunil@example.com" in card.inner_text()
    assert "no wallet" in card.inner_text()
    page.select_option("#category", "Charger Faults")
    page.fill("#charger_ref", "CP-COL-014")
    page.fill("#summary", "Connector locked after the session ended")
    screenshot(page, "support-log-call")
    page.click("#save-call")
    page.wait_for_url("**/support/calls/*")
    assert "Sunil Perera" in page.locator("#customer-card").inner_text()
    call_url = page.url
    page.click("#escalate")
    page.wait_for_url("**/support/tickets/*")
    assert "Ticket #" in page.locator("#ticket-page h2").inner_text()
    call_link = page.locator("#ticket-call a")
    assert call_link.inner_text().startswith("Call #") and call_url.endswith(call_link.get_attribute("href"))
    assert page.locator("#ticket-status").inner_text() == "Open"
    screenshot(page, "support-ticket")
    # the call links back to its ticket, and escalating again opens the same one
    page.goto(call_url)
    assert "Ticket #" in page.locator("#call-ticket").inner_text()
    ticket_href = page.locator("#call-ticket a").get_attribute("href")
    page.click("#escalate")
    page.wait_for_url("**" + ticket_href)


def test_dashboard_renders_offline(page):
    browser_login(page, "manager")
    page.goto("/")
    assert page.locator("#support-dashboard").is_visible()
    panel = page.locator("#panel-chargers").inner_text()
    assert "L2" in panel and "L3" in panel and "Weak Signal" in panel and "Network status" in panel
    screenshot(page, "support-dashboard")
