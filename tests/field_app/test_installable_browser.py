"""Chromium offers to install the field app: manifest, icons, service worker and offline page are valid.
Once installed (the service worker has cached the shell), the app opens with no connection."""
from __future__ import annotations

import pytest

from tests.conftest import CHROMIUM, PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def installed(browser, live_server, tmp_path):
    """A persistent (not incognito) Chromium profile, as a phone's browser: service workers allowed."""
    context = browser.browser_type.launch_persistent_context(
        str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, base_url=live_server.url,
        viewport={"width": 390, "height": 844},
        args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync"])
    outside: list[str] = []
    context.on("request", lambda r: outside.append(r.url) if not r.url.startswith(("http://127.0.0.1", "data:", "blob:")) else None)
    page = context.pages[0] if context.pages else context.new_page()
    yield context, page
    context.close()
    assert not outside, f"requests left 127.0.0.1: {outside}"


def test_chromium_finds_nothing_that_stops_installation(installed):
    context, page = installed
    page.goto("/app/")
    page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
    cdp = context.new_cdp_session(page)
    manifest = cdp.send("Page.getAppManifest")
    assert manifest["errors"] == [], manifest["errors"]
    assert manifest["url"].endswith("/app/manifest.webmanifest")
    errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    assert errors == [], errors


def test_the_installed_app_opens_offline_from_its_cache(installed):
    context, page = installed
    page.goto("/app/")
    page.fill("#username", "installer")
    page.fill("#password", PASSWORD)
    page.click("#signin-button")
    page.wait_for_selector("#tab-dashboard:not([hidden])")
    page.evaluate("() => navigator.serviceWorker.ready")
    page.reload()  # now under the service worker's control, with the last data cached
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=30000)
    page.wait_for_selector("#summary-L2")
    context.set_offline(True)
    page.reload()
    page.wait_for_selector("#tab-dashboard:not([hidden]) #summary-L2", timeout=30000)  # shell and last data from the cache
    assert page.inner_text("#live-status") in ("offline", "reconnecting")
    page.goto("/app/offline.html")
    assert "No connection" in page.inner_text("h1")
    context.set_offline(False)
