"""Field tickets: Installers and Field Team members create and work their department's tickets,
in the web UI (phone-sized pages) and over the API."""
from __future__ import annotations

from sqlalchemy import select

from app.models.chargers import Charger
from app.models.people import Department
from app.models.support import Ticket
from tests.conftest import browser_login, csrf_token, screenshot
from tests.support.conftest import user_id
from tests.support.test_departments import technical_ticket


def maintenance_id(session) -> int:
    return session.scalar(select(Department.id).where(Department.name == "Maintenance"))


def _register(session, cid: str) -> None:
    session.add(Charger(cid=cid, name=f"Charger {cid}", type="L2"))  # a ticket's charger is a registry charger
    session.commit()


def test_installer_and_field_team_work_field_tickets_over_the_api(api_as, session):
    _register(session, "CP-77")
    installer, field = api_as("installer"), api_as("fieldteam")  # both in Maintenance
    created = installer.post("/api/v1/tickets/", json={"title": "CP-77 cable damaged", "priority": "High",
                                                       "charger_ref": "CP-77"})
    assert created.status_code == 201, created.json
    ticket = created.json["result"]
    assert ticket["department_id"] == maintenance_id(session) and ticket["created_by_id"] == user_id(session, "installer")
    ticket_id = ticket["id"]
    # the Field Team member of the same department sees it and works it
    assert ticket_id in [t["id"] for t in field.get("/api/v1/tickets/").json["result"]]
    assert field.post(f"/api/v1/tickets/{ticket_id}/transition", json={"to": "In Progress"}).status_code == 200
    assert field.post(f"/api/v1/tickets/{ticket_id}/notes", json={"body": "cable replaced"}).status_code == 201
    assert installer.post(f"/api/v1/tickets/{ticket_id}/transition", json={"to": "Resolved"}).status_code == 200
    assert field.post("/api/v1/tickets/", json={"title": "Site lights out"}).status_code == 201
    # another department's ticket stays out of reach
    other = technical_ticket(session)
    assert installer.get(f"/api/v1/tickets/{other}").status_code == 404
    assert field.post(f"/api/v1/tickets/{other}/notes", json={"body": "x"}).status_code == 404


def test_installer_and_field_team_open_the_ticket_pages(web_as, session):
    for username in ("installer", "fieldteam"):
        browser = web_as(username)
        assert browser.get("/support/tickets/").status_code == 200
        form = browser.get("/support/tickets/new")
        assert form.status_code == 200
        saved = browser.post("/support/tickets/new", data={
            "title": f"Charger door broken ({username})", "priority": "Medium", "csrf_token": csrf_token(form.get_data(as_text=True)),
        })
        assert saved.status_code == 302
        ticket_id = int(saved.headers["Location"].rstrip("/").rsplit("/", 1)[1])
        page = browser.get(f"/support/tickets/{ticket_id}")
        assert page.status_code == 200
        token = csrf_token(page.get_data(as_text=True))
        assert browser.post(f"/support/tickets/{ticket_id}/notes", data={"body": "on site", "csrf_token": token}).status_code == 302
        assert browser.post(f"/support/tickets/{ticket_id}/transition",
                            data={"to": "In Progress", "csrf_token": token}).status_code == 302
        session.expire_all()
        ticket = session.get(Ticket, ticket_id)
        assert ticket.status == "In Progress" and [n.body for n in ticket.notes] == ["on site"]
        assert ticket.department_id == maintenance_id(session)
        assert f"Charger door broken ({username})" in browser.get("/support/tickets/").get_data(as_text=True)


def test_installer_creates_a_ticket_and_adds_a_note_on_a_phone(page, session):
    _register(session, "CP-21")
    page.set_viewport_size({"width": 390, "height": 844})
    browser_login(page, "installer")
    page.goto("/support/tickets/")
    page.click("#new-ticket")
    page.wait_for_url("**/support/tickets/new")
    page.fill("input[name=title]", "CP-21 holster cracked")
    page.fill("textarea[name=description]", "Found on the morning round")
    page.fill("input[name=charger_ref]", "CP-21")
    page.click("#open-ticket")
    page.wait_for_url("**/support/tickets/*")
    assert "CP-21 holster cracked" in page.locator("#ticket-page h2").inner_text()
    page.fill("#note-body", "Holster replaced, tested OK")
    page.click("#add-note")
    page.wait_for_load_state("networkidle")
    assert "Holster replaced, tested OK" in page.locator("#notes").inner_text()
    # the page fits the phone: nothing wider than the screen
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    screenshot(page, "support-field-ticket")
