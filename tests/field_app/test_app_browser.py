"""The field app in Debian's Chromium on a phone-sized screen (390x844): sign in, live dashboard, map,
offline issue with a photo, OCPP debug with a confirmed command. No request may leave 127.0.0.1."""
from __future__ import annotations

import json
import struct
import time
import zlib

import pytest
from sqlalchemy import func, select

from app.models.chargers import Charger
from app.models.field import ChargerIssue, FieldPhoto
from tests.conftest import PASSWORD, screenshot

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


def png(width=4, height=4) -> bytes:
    """A real (tiny) PNG, as a phone camera's picture would be for the server."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + b"\xd6\x28\x28" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


@pytest.fixture
def phone(browser, live_server):
    """A phone-sized page; every request that would leave 127.0.0.1 is blocked and recorded."""
    context = browser.new_context(base_url=live_server.url, viewport=PHONE, is_mobile=True, has_touch=True,
                                  service_workers="block")  # routing sees every request (the SW has its own test)
    outside: list[str] = []

    def guard(route):
        url = route.request.url
        if url.startswith(("http://127.0.0.1", "data:", "blob:")):
            return route.continue_()
        outside.append(url)
        return route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    page.outside_requests = outside
    page.context_ = context
    yield page
    context.close()
    assert not outside, f"requests left 127.0.0.1: {outside}"


def sign_in(page, username="cpo"):
    page.goto("/app/")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#signin-button")
    page.wait_for_selector("#tab-dashboard:not([hidden]) #summary-L2")


def bucket_count(page, ctype, bucket) -> str:
    return page.inner_text(f"#summary-{ctype} [data-bucket='{bucket}'] .n")


def test_sign_in_with_erp_credentials_and_see_the_five_tabs(phone, make_charger):
    make_charger("APP-SI-1", type="L2", online=True)
    phone.goto("/app/")
    phone.fill("#username", "cpo")
    phone.fill("#password", "wrong")
    phone.click("#signin-button")
    phone.wait_for_selector("#signin-error:text('Wrong user name or password.')")
    sign_in(phone)
    assert phone.inner_text("#whoami") == "Shanika Wickramasinghe"
    assert phone.locator("#tabbar a").all_inner_texts() == ["Dashboard", "Sessions", "Debug", "Map", "More"]
    assert bucket_count(phone, "L2", "Available") == "1"
    phone.wait_for_selector("#network-list li[data-cid='APP-SI-1']")
    screenshot(phone, "field-app-dashboard")
    phone.click("#summary-L3 [data-bucket='Faulted']")  # a tile filters the list to its type and bucket
    phone.wait_for_selector("#network-list li:text('No charger matches.')")
    phone.select_option("#network-type", "")
    phone.select_option("#network-bucket", "")
    phone.fill("#network-q", "SI-1")
    phone.wait_for_selector("#network-list li[data-cid='APP-SI-1']")
    phone.reload()  # the tokens stay on the phone: no second sign-in
    phone.wait_for_selector("#tab-dashboard:not([hidden]) #summary-L2")
    phone.click("#tabbar a[data-tab='more']")
    phone.click("#signout")
    phone.wait_for_selector("#signin:not([hidden])")


def test_an_expired_access_token_is_renewed_without_signing_out(phone, make_charger):
    make_charger("APP-RT-1", type="L3", online=True)
    sign_in(phone)
    phone.evaluate("""() => { const t = JSON.parse(localStorage.getItem('chargeops.tokens'));
                              t.access_token = 'expired.' + t.access_token.split('.')[1] + '.bad';
                              localStorage.setItem('chargeops.tokens', JSON.stringify(t)); }""")
    phone.click("#tabbar a[data-tab='sessions']")
    phone.click("#tabbar a[data-tab='dashboard']")
    phone.wait_for_selector("#network-list li[data-cid='APP-RT-1']")
    assert phone.is_hidden("#signin")


def test_the_dashboard_changes_when_the_ingest_writes_a_fault(phone, make_charger, ingest, fleet):
    make_charger("APP-LIVE-1", type="L3", online=True)
    chargers = fleet(["APP-LIVE-1"])
    summary_calls = []
    phone.on("request", lambda r: summary_calls.append(r.url) if "/network/summary" in r.url else None)
    sign_in(phone)
    phone.wait_for_selector("#live-status.on")  # the stream is open
    assert bucket_count(phone, "L3", "Faulted") == "0" and bucket_count(phone, "L3", "Available") == "1"
    before = len(summary_calls)
    chargers.fault("APP-LIVE-1", 1, error_code="GroundFailure")
    phone.wait_for_function(
        "() => document.querySelector(\"#summary-L3 [data-bucket='Faulted'] .n\").textContent === '1'", timeout=60000)
    assert bucket_count(phone, "L3", "Available") == "0"
    assert len(summary_calls) > before  # refetched because the stream said so (the app does not poll)
    screenshot(phone, "field-app-live-fault")


def test_the_stream_reconnects_by_itself(phone, make_charger, app):
    make_charger("APP-RC-1", online=True)
    old = app.config["LIVE_STREAM_SECONDS"]
    app.config["LIVE_STREAM_SECONDS"] = 1  # the server ends each stream after a second
    try:
        hellos = []
        phone.on("request", lambda r: hellos.append(r.url) if r.url.endswith("/live/stream") else None)
        sign_in(phone)
        deadline = time.monotonic() + 30
        while len(hellos) < 3 and time.monotonic() < deadline:
            phone.wait_for_timeout(200)
        assert len(hellos) >= 3
        phone.wait_for_selector("#live-status.on")
    finally:
        app.config["LIVE_STREAM_SECONDS"] = old


def _place(session, cid, lat, lng):
    charger = session.scalar(select(Charger).where(Charger.cid == cid))
    charger.latitude, charger.longitude = lat, lng
    session.commit()


def test_the_map_draws_dc_red_and_ac_blue_with_nothing_from_outside(phone, session, make_charger, app):
    make_charger("APP-MAP-DC", type="L3", online=True)
    make_charger("APP-MAP-AC", type="L2", online=True)
    make_charger("APP-MAP-OFF", type="L2", online=False)
    _place(session, "APP-MAP-DC", 6.9271, 79.8612)  # Colombo
    _place(session, "APP-MAP-AC", 7.2906, 80.6337)  # Kandy
    _place(session, "APP-MAP-OFF", 9.6615, 80.0255)  # Jaffna
    old = app.config["MAP_TILE_URL"]
    app.config["MAP_TILE_URL"] = "http://127.0.0.1:9/tiles/{z}/{x}/{y}.png"  # configured, but no tile server answers
    try:
        sign_in(phone)
        phone.click("#tabbar a[data-tab='map']")
        phone.wait_for_selector("#app-map[data-markers='3'][data-basemap='ready']")
        phone.wait_for_selector("path.charger-DC")
        dc = phone.locator("path.charger-DC")
        ac = phone.locator("path.charger-AC.charger-online")
        off = phone.locator("path.charger-AC.charger-offline")
        assert dc.count() == 1 and ac.count() == 1 and off.count() == 1
        assert dc.get_attribute("stroke") == "#d62828" and dc.get_attribute("fill") == "#d62828"
        assert ac.get_attribute("stroke") == "#1d4ed8" and ac.get_attribute("fill") == "#1d4ed8"
        assert off.get_attribute("fill") == "#ffffff"  # offline: hollow
        assert phone.locator("path.basemap-home").count() == 1  # Sri Lanka's outline, shipped with the app
        dc.dispatch_event("click")
        phone.wait_for_selector(".map-popup[data-cid='APP-MAP-DC']")
        assert "DC (L3)" in phone.inner_text(".map-popup")
        screenshot(phone, "field-app-map")
    finally:
        app.config["MAP_TILE_URL"] = old
    assert phone.outside_requests == []


def test_the_back_office_map_page_uses_the_same_map(page, session, make_charger):
    from tests.conftest import browser_login

    make_charger("BO-MAP-DC", type="L3", online=True)
    make_charger("BO-MAP-AC", type="L2", online=True)
    _place(session, "BO-MAP-DC", 6.9271, 79.8612)
    _place(session, "BO-MAP-AC", 8.3114, 80.4037)  # Anuradhapura
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    browser_login(page, "cpo")
    page.goto("/chargers/network/map/")

    page.wait_for_selector("#charger-map[data-markers='2'][data-basemap='ready']")
    assert page.locator("path.charger-DC").get_attribute("stroke") == "#d62828"
    assert page.locator("path.charger-AC").get_attribute("stroke") == "#1d4ed8"
    assert "<script>" not in page.content().split("<body", 1)[1].replace(" ", "")  # no inline scripts (CSP)
    assert errors == []
    screenshot(page, "back-office-map")


def test_offline_an_issue_with_a_photo_waits_on_the_phone_and_reaches_the_server_once(phone, session, make_charger):
    make_charger("APP-OFF-1", type="L2", online=True)
    sign_in(phone, "installer")
    phone.click("#tabbar a[data-tab='more']")
    phone.click("#more-menu [data-panel='issues']")
    phone.wait_for_selector("#issue-form")
    phone.context_.set_offline(True)
    phone.fill("#issue-cid", "APP-OFF-1")
    phone.fill("#issue-title", "Connector 2 holster cracked")
    phone.select_option("#issue-priority", "High")
    phone.set_input_files("#issue-photo", files=[{"name": "holster.png", "mimeType": "image/png", "buffer": png()}])
    phone.click("#issue-save")
    phone.wait_for_selector("#issue-saved:text('Saved on this phone')")
    phone.wait_for_selector("#outbox-badge:not([hidden])")
    assert "1 to send" in phone.inner_text("#outbox-badge")
    phone.wait_for_timeout(500)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(ChargerIssue)) == 0
    screenshot(phone, "field-app-offline-issue")

    phone.context_.set_offline(False)  # the 'online' event sends the queue
    phone.wait_for_selector("#outbox-badge[hidden]", state="attached", timeout=30000)
    phone.evaluate("() => Promise.all([window.ChargeOpsField.Outbox.flush(), window.ChargeOpsField.Outbox.flush()])")
    session.rollback()
    issues = session.scalars(select(ChargerIssue)).all()
    assert len(issues) == 1 and issues[0].title == "Connector 2 holster cracked" and issues[0].priority == "High"
    photos = session.scalars(select(FieldPhoto)).all()
    assert len(photos) == 1 and photos[0].original_name == "holster.png" and photos[0].note.issue_id == issues[0].id


def test_a_refused_queued_write_is_shown_as_a_conflict_not_dropped(phone, session, make_charger):
    make_charger("APP-CF-1", online=True)
    sign_in(phone, "installer")
    phone.goto("/app/#more/issues")
    phone.wait_for_selector("#issue-form")
    phone.context_.set_offline(True)
    phone.fill("#issue-cid", "NO-SUCH-CHARGER")
    phone.fill("#issue-title", "Typo in the charger id")
    phone.click("#issue-save")
    phone.wait_for_selector("#issue-saved:text('Saved on this phone')")
    phone.context_.set_offline(False)
    phone.wait_for_selector("#outbox-badge:text('conflict')", timeout=30000)
    phone.click("#more-menu [data-panel='outbox']")
    phone.wait_for_selector("#outbox-list li.conflict .error")
    assert "NO-SUCH-CHARGER" in phone.inner_text("#outbox-list li.conflict .error")
    phone.click("#outbox-list [data-discard]")
    phone.wait_for_selector("#outbox-list li:text('Everything is sent.')")


def test_debug_streams_ocpp_and_asks_before_a_hard_reset(phone, session, make_charger, ingest, fleet):
    from app.models.chargers import ChargerCommand

    make_charger("APP-DBG-1", type="L3", online=True)
    chargers = fleet(["APP-DBG-1"])
    sign_in(phone)
    phone.goto("/app/#debug/APP-DBG-1")
    phone.wait_for_selector("#debug-charger li")
    phone.wait_for_selector("#live-status.on")
    chargers.heartbeat("APP-DBG-1")
    phone.wait_for_selector("#ocpp-stream li:has-text('Heartbeat')", timeout=30000)
    phone.click("[data-command='hard-reset']")
    phone.wait_for_selector("#confirm-dialog[open]")
    assert "Hard reset APP-DBG-1?" in phone.inner_text("#confirm-text")
    phone.click("#confirm-cancel")
    phone.wait_for_selector("#command-result:text('Cancelled.')")
    session.rollback()
    assert session.scalar(select(func.count()).select_from(ChargerCommand)) == 0
    phone.click("[data-command='hard-reset']")
    phone.click("#confirm-ok")
    phone.wait_for_selector("#command-result:text('Reset: ')", timeout=30000)
    session.rollback()
    command = session.scalar(select(ChargerCommand))
    assert command.action == "Reset" and json.loads(command.payload) == {"type": "Hard"}
    screenshot(phone, "field-app-debug")


def test_customer_lookup_by_phone_shows_balance_and_vehicles(phone, make_customer):
    make_customer(name="Ruwan Jayasuriya", phone="+94771234567", balance="900.00")
    sign_in(phone, "agent")
    phone.goto("/app/#debug")
    phone.fill("#lookup-phone", "077 123 4567")
    phone.click("#lookup-form button")
    phone.wait_for_selector("#lookup-result li[data-customer]")
    text = phone.inner_text("#lookup-result")
    assert "Ruwan Jayasuriya" in text and "900.00" in text
    phone.wait_for_selector("#lookup-result .sessions:text('No sessions yet.')")


def test_sessions_show_live_energy_and_the_connector_status(phone, make_charger, ingest, fleet):
    make_charger("APP-SES-1", type="L3", online=True)
    chargers = fleet(["APP-SES-1"])
    sign_in(phone)
    phone.click("#tabbar a[data-tab='sessions']")
    phone.wait_for_selector("#live-status.on")
    phone.wait_for_selector("#sessions-list li:text('No session is running.')")
    chargers.start_session("APP-SES-1", 1, id_tag="APP-1001")
    chargers.set_status("APP-SES-1", 1, "Charging")
    phone.wait_for_selector("#sessions-list li[data-session]", timeout=30000)
    phone.wait_for_selector("#sessions-list li[data-session] .pill:text('Charging')", timeout=30000)
    chargers.meter_values("APP-SES-1", 1, seconds=600)
    phone.wait_for_function(
        "() => !/^0 kWh/.test(document.querySelector('#sessions-list li[data-session] .meta').textContent)", timeout=30000)
    assert "connector 1" in phone.inner_text("#sessions-list li[data-session]")
    screenshot(phone, "field-app-sessions")


def test_the_app_and_its_map_run_under_a_script_src_self_policy(phone, session, make_charger):
    """The app's own policy (script-src 'self', no inline script) is what every response carries."""
    make_charger("APP-CSP-1", type="L3", online=True)
    _place(session, "APP-CSP-1", 6.9271, 79.8612)
    refused = []
    phone.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    sign_in(phone)
    phone.click("#tabbar a[data-tab='map']")
    phone.wait_for_selector("#app-map[data-markers='1'][data-basemap='ready'] path.charger-DC")
    assert refused == []
