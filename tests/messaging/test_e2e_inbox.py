"""Playwright: an inbound WhatsApp appears in the inbox, an agent replies, and the reply's status
turns to delivered when Twilio's status callback arrives."""
from __future__ import annotations

import requests
from sqlalchemy import select

from app.models.messaging import Message
from tests.conftest import browser_login, screenshot
from tests.messaging.conftest import answer_each_send, inbound_params, sign, wait_for


def _post_signed(live_server, path: str, params: dict):
    return requests.post(live_server.url + path, data=params, headers={"X-Twilio-Signature": sign(path, params)}, timeout=10)


def test_inbound_reply_and_delivery_status_in_the_browser(page, live_server, session, twilio, celery_worker):
    answer_each_send(twilio)
    params = inbound_params("Hello, is the Kandy charger free now?", phone="+94775559999", name="Harsha Perera")
    assert _post_signed(live_server, "/webhooks/twilio/whatsapp", params).status_code == 200
    browser_login(page, "agent")
    page.goto("/messaging/inbox/")
    row = page.locator("#conversations tr.conversation", has_text="Harsha Perera")
    assert row.count() == 1 and row.locator(".unread").inner_text() == "1"
    row.locator("a").first.click()
    page.wait_for_selector("#history")
    assert "Kandy charger" in page.inner_text("#history")
    assert "free text is allowed" in page.inner_text("#window-rule")
    page.fill("#reply textarea[name=body]", "Yes, bay 2 is free.")
    page.click("#reply button[type=submit]")
    page.wait_for_selector(".message .body:has-text('Yes, bay 2 is free.')")
    reply = wait_for(session, lambda: session.scalar(
        select(Message).where(Message.direction == "outbound", Message.provider_sid.is_not(None))), what="reply sent")
    page.wait_for_function("() => document.querySelector('.status').textContent === 'queued'", timeout=15000)
    callback = {"MessageSid": reply.provider_sid, "MessageStatus": "delivered", "AccountSid": reply.provider_sid}
    assert _post_signed(live_server, "/webhooks/twilio/status", callback).status_code == 200
    page.wait_for_function("() => document.querySelector('.status').textContent === 'delivered'", timeout=15000)
    screenshot(page, "messaging-conversation")
