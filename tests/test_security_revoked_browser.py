"""A live page whose session is revoked elsewhere goes to the login form (and comes back after it)."""
from __future__ import annotations

from app.services.sign_in import revoke_sign_ins
from tests.conftest import PASSWORD, browser_login


def test_a_revoked_session_sends_the_live_page_to_the_login_form(app, page, session):
    browser_login(page, "cpo")
    page.goto("/chargers/network/")
    page.wait_for_selector("#network-table, table", timeout=30000)
    with app.app_context():
        user = app.appbuilder.sm.find_user(username="cpo")
        revoke_sign_ins(session, user.id)  # a logout on another device, a password change
        session.commit()
    page.wait_for_selector("input[name=username]", timeout=60000)  # the login form, whichever poll saw the 401 first
    assert "next=%2Fchargers%2Fnetwork%2F" in page.url
    page.fill("input[name=username]", "cpo")
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_url("**/chargers/network/", timeout=30000)
