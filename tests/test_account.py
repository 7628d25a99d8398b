"""API keys (create on the screen, use on the API, revoke) and my notifications."""
from __future__ import annotations

import re

from sqlalchemy import select

from app.services.notifications import notify_user, unread_count
from tests.conftest import csrf_token


def _create_key(browser, name="Tata lead feed"):
    page = browser.get("/apikeys/").get_data(as_text=True)
    created = browser.post("/apikeys/create", data={"name": name, "csrf_token": csrf_token(page)})
    assert created.status_code == 200
    html = created.get_data(as_text=True)
    return re.search(r'id="new-key-value">(sst_[^<]+)<', html).group(1), html


def test_a_user_creates_an_api_key_and_calls_the_api_with_it(web_as, client):
    key, html = _create_key(web_as("manager"))
    assert "shown only once" in html
    response = client.get("/api/v1/departments/", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200 and response.json["count"] == 4


def test_a_key_carries_its_owners_role(web_as, client):
    key, _ = _create_key(web_as("finance"))
    assert client.get("/api/v1/departments/", headers={"Authorization": f"Bearer {key}"}).status_code == 403


def test_a_revoked_key_no_longer_works_and_admin_can_revoke_anyones(web_as, client):
    key, _ = _create_key(web_as("manager"))
    admin = web_as("admin")
    listing = admin.get("/apikeys/").get_data(as_text=True)
    assert "manager" in listing and "Tata lead feed" in listing
    uuid = re.search(r'/apikeys/revoke/([0-9a-f-]{36})', listing).group(1)
    admin.post(f"/apikeys/revoke/{uuid}", data={"csrf_token": csrf_token(listing)})
    assert client.get("/api/v1/departments/", headers={"Authorization": f"Bearer {key}"}).status_code == 401


def test_an_unnamed_key_is_refused(web_as):
    browser = web_as("agent")
    page = browser.get("/apikeys/").get_data(as_text=True)
    response = browser.post("/apikeys/create", data={"name": " ", "csrf_token": csrf_token(page)}, follow_redirects=True)
    assert "Give the key a name" in response.get_data(as_text=True)
    assert "new-key-value" not in response.get_data(as_text=True)


def test_my_notifications_show_only_mine(session, web_as):
    from flask_appbuilder.security.sqla.models import User

    agent = session.scalar(select(User).where(User.username == "agent"))
    manager = session.scalar(select(User).where(User.username == "manager"))
    notify_user(session, agent.id, "reminder", "Ticket #12 is waiting for you")
    notify_user(session, manager.id, "sla", "Ticket #9 breached its SLA")
    session.commit()
    page = web_as("agent").get("/field/feed/").get_data(as_text=True)
    assert "Ticket #12 is waiting" in page and "Ticket #9" not in page
    assert unread_count(session, agent.id) == 1
