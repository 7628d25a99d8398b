"""Safe commands on the screens: buttons only for people allowed to press them, confirmation before the ones
that cannot be taken back, the console's buttons waiting for a charger; the fleet screens per role."""
from __future__ import annotations


from datetime import timedelta

from sqlalchemy import select

from app.models.base import utcnow
from app.models.chargers import Charger, ChargerCommand
from tests.conftest import browser_login, screenshot


def _charger(session, cid="SCR-1"):
    session.add(Charger(cid=cid, name=f"Charger {cid}", type="L2", vendor="SimCharge", model="SC-7",
                        last_seen=utcnow(), offline_after=utcnow() + timedelta(hours=1)))  # online: commands go out
    session.commit()


def test_buttons_are_shown_only_to_people_allowed_to_press_them(session, web_as):
    _charger(session)
    agent = web_as("agent").get("/chargers/network/SCR-1").get_data(as_text=True)
    assert 'data-action="Reset"' not in agent and 'data-post="ssh-reboot"' not in agent and 'data-post="firmware"' not in agent
    assert "SSH reboots" not in agent and "Error log: filter and export" in agent
    dispatcher = web_as("dispatcher").get("/chargers/network/SCR-1").get_data(as_text=True)
    assert 'data-action="Reset"' in dispatcher and 'data-post="ssh-reboot"' not in dispatcher
    assert 'data-post="firmware"' not in dispatcher
    cpo = web_as("cpo").get("/chargers/network/SCR-1").get_data(as_text=True)
    assert "SSH reboot" in cpo and "Update firmware" in cpo and 'data-post="diagnostics"' in cpo
    for label in ("Hard reset", "Make unavailable", "Update firmware", "SSH reboot"):  # each asks first
        button = cpo[cpo.rindex("<button", 0, cpo.index(f">{label}</button>")):cpo.index(f">{label}</button>")]
        assert "data-confirm=" in button, label
    assert "<script>" not in cpo  # scripts are files (script-src 'self')


def test_fleet_screens_per_role(session, web_as):
    assert web_as("cpo").get("/firmwareview/list/").status_code == 200
    assert web_as("manager").get("/firmwarecampaignview/list/").status_code == 200
    assert 'id="campaign-create"' not in web_as("manager").get("/firmwarecampaignview/list/").get_data(as_text=True)
    assert 'id="campaign-create"' in web_as("cpo").get("/firmwarecampaignview/list/").get_data(as_text=True)
    assert web_as("dispatcher").get("/sshhostview/list/").status_code == 403
    assert web_as("manager").get("/sshjobview/list/").status_code == 403


def test_console_buttons_wait_for_a_charger_and_hard_reset_asks_first(page, session):
    _charger(session, "CON-1")
    browser_login(page, "cpo")
    page.goto("/chargers/network/console/")
    hard = page.locator("#command-buttons button:has-text('Hard reset')")
    assert hard.is_disabled()
    page.fill("#console-cid", "CON-1")
    page.wait_for_function("() => !document.querySelector(\"#command-buttons [data-action='Reset']\").disabled")
    dialogs = []

    def dismiss(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()
    page.once("dialog", dismiss)
    hard.click()
    page.wait_for_timeout(300)
    assert dialogs and "Hard reset" in dialogs[0]
    session.rollback()
    assert session.scalar(select(ChargerCommand)) is None  # said no: nothing sent
    page.once("dialog", lambda dialog: dialog.accept())
    hard.click()
    page.wait_for_selector("#command-feedback:has-text('Reset')", timeout=5000)
    session.rollback()
    assert session.scalar(select(ChargerCommand.payload)) == '{"type":"Hard"}'
    screenshot(page, "fleet-console-confirmed")


def test_firmware_upload_and_campaign_from_the_screens(page, session):
    _charger(session, "UI-1")
    browser_login(page, "cpo")
    page.goto("/firmwareview/list/")
    page.fill("#firmware-upload [name=vendor]", "SimCharge")
    page.fill("#firmware-upload [name=model]", "SC-7")
    page.fill("#firmware-upload [name=version]", "2.0.0")
    page.set_input_files("#firmware-upload [name=file]", files=[{"name": "fw.bin", "mimeType": "application/octet-stream",
                                                                 "buffer": b"SIMFW 2.0.0\n" + b"x" * 100}])
    page.click("#firmware-upload button[type=submit]")
    page.wait_for_selector("#firmware-upload .js-feedback:has-text('Added 2.0.0')", timeout=5000)
    page.goto("/chargers/network/UI-1")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Update firmware')")
    page.wait_for_selector("#command-feedback:has-text('Firmware campaign')", timeout=5000)
    session.rollback()
    from app.models.fleet import FirmwareCampaign

    campaign = session.scalar(select(FirmwareCampaign))
    assert campaign is not None and campaign.batch_size == 1
    page.goto(f"/firmwarecampaignview/campaign/{campaign.id}")
    page.wait_for_selector("#campaign-chargers td:has-text('UI-1')", timeout=5000)
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button[data-move=pause]")
    page.wait_for_selector(".js-feedback:has-text('Campaign paused')", timeout=5000)
    screenshot(page, "fleet-campaign")
