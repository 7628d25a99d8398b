"""A person signs in through the real login form in headless Chromium."""
from __future__ import annotations

from tests.conftest import browser_login, screenshot


def test_agent_signs_in_and_sees_only_their_menus(page):
    page.goto("/")
    browser_login(page, "agent")
    assert page.locator("#home h2").inner_text().startswith("Welcome, Kasun")
    assert "Hotline department" in page.locator("#home").inner_text()
    nav = page.locator(".navbar").inner_text()
    assert "Security" not in nav and "Team" in nav
    path = screenshot(page, "home-agent")
    assert path.stat().st_size > 10_000


def test_a_wrong_password_is_refused(page):
    page.goto("/login/")
    page.fill("input[name=username]", "agent")
    page.fill("input[name=password]", "wrong")
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "/login" in page.url
    assert "Invalid login" in page.locator("body").inner_text()
