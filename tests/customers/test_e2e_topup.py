"""Finance finds a customer by phone, opens their page and tops up their wallet in headless Chromium."""
from __future__ import annotations

from decimal import Decimal

from app.services.customers import balance_of
from app.services.customers_topups import top_up_wallet
from tests.conftest import browser_login, screenshot


def test_finance_tops_up_from_the_customer_page(page, session, customer, tmp_path):
    top_up_wallet(session, customer.id, "500.00", "R-OPEN", "opening balance", user_id=None)
    session.commit()
    slip = tmp_path / "slip.png"
    slip.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)

    browser_login(page, "finance")
    page.goto("/customer/find")
    page.fill("input[name=q]", "0094 77 123 4567")
    page.click("#customer-find button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.locator("#customer-name").inner_text().startswith("Kamal Perera")
    assert "500.00" in page.locator("#balance").inner_text()

    page.click("#top-up")
    page.wait_for_load_state("networkidle")
    assert "Kamal Perera" in page.locator("#customer-name").inner_text()
    page.fill("#amount", "1250.75")
    page.fill("#receipt_no", "HNB-2026-0042")
    page.set_input_files("#receipt", str(slip))
    page.fill("#note", "Cash deposit at HNB Colombo 07")
    page.click("#submit-topup")
    page.wait_for_load_state("networkidle")

    assert "1,750.75" in page.locator("#balance").inner_text()
    assert "Credited 1,250.75 LKR to Kamal Perera" in page.locator("body").inner_text()
    ledger = page.locator(".customer-panel").first.inner_text()
    assert "Manual top-up, receipt HNB-2026-0042" in ledger and "finance" in ledger
    screenshot(page, "customer-page-after-topup")
    session.expire_all()
    assert balance_of(session, customer.id) == Decimal("1750.75")
