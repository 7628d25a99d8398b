"""The screens: customer form (duplicate phone error), customer page panels, top-up desk, audit trail export."""
from __future__ import annotations

import io
from decimal import Decimal

import openpyxl
from sqlalchemy import func, select

from app.models.customers import Customer, Payment, TopUp
from app.services.customers import balance_of
from app.services.customers_topups import top_up_wallet
from app.services.customers_wallet import charge_wallet
from app.views import customers as customer_views
from tests.conftest import csrf_token

PDF = b"%PDF-1.4\n%%EOF\n"


def test_the_customer_form_normalises_phones_and_refuses_a_duplicate_inline(web_as, session, customer):
    browser = web_as("agent")
    form = browser.get("/customerview/add").get_data(as_text=True)
    data = {"csrf_token": csrf_token(form), "name": "Ruwani Jayasuriya", "phone": "070 123 4567",
            "extra_phones": "0094 76 765 4321", "tag_numbers": "rf-77, rf-78", "email": "ruwani@example.lk",
            "address": "5 Lake Road, Kandy", "notes": ""}
    added = browser.post("/customerview/add", data=data)
    assert added.status_code == 302
    created = session.scalar(select(Customer).where(Customer.name == "Ruwani Jayasuriya"))
    assert created.phone == "+94701234567"
    assert sorted(p.phone for p in created.phones) == ["+94701234567", "+94767654321"]
    assert sorted(t.tag for t in created.tags) == ["RF-77", "RF-78"]
    assert balance_of(session, created.id) == Decimal("0.00")

    duplicate = browser.post("/customerview/add", data={**data, "name": "Other", "phone": "0771234567", "extra_phones": "",
                                                        "tag_numbers": ""})
    assert duplicate.status_code == 200
    assert "+94771234567 already belongs to customer #%d Kamal Perera" % customer.id in duplicate.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Customer)) == 2

    edit_form = browser.get(f"/customerview/edit/{created.id}").get_data(as_text=True)
    assert "+94767654321" in edit_form  # the other numbers are shown for editing
    edited = browser.post(f"/customerview/edit/{created.id}", data={
        **data, "csrf_token": csrf_token(edit_form), "extra_phones": "", "address": "7 Lake Road, Kandy"})
    assert edited.status_code == 302
    session.expire_all()
    assert [p.phone for p in session.get(Customer, created.id).phones] == ["+94701234567"]
    assert session.get(Customer, created.id).address == "7 Lake Road, Kandy"


def test_the_customer_page_shows_balance_and_panels_newest_first(web_as, session, customer):
    top_up_wallet(session, customer.id, "1000.00", "R-1", "cash", user_id=None)
    charge_wallet(session, customer.id, "250.00", user_id=None, reason="Session at Colombo City Centre", reference="S-1")
    session.commit()

    @customer_views.register_customer_panel
    def calls_panel(session, c):  # what another module adds
        return {"title": "Calls", "order": 40, "columns": ["When", "Category"], "rows": [["today", "Payment Issues"]]}

    try:
        page = web_as("agent").get(f"/customer/{customer.id}").get_data(as_text=True)
        page = page[page.index('id="customer-page"'):]
    finally:
        customer_views.CUSTOMER_PANELS.remove(calls_panel)
    assert "Kamal Perera" in page and "750.00" in page
    assert page.index("Wallet transactions") < page.index("Payments") < page.index("Calls")
    assert page.index("Session at Colombo City Centre") < page.index("Manual top-up, receipt R-1")  # newest first
    assert "Payment Issues" in page
    assert "Manual top-up</a>" not in page  # agents cannot top up: no button


def test_find_by_any_phone_form_opens_the_customer_page(web_as, customer, make_customer):
    browser = web_as("installer")
    found = browser.get("/customer/find?q=0094 77 123 4567")
    assert found.status_code == 302 and found.headers["Location"].endswith(f"/customer/{customer.id}")
    make_customer("Kamala Silva", "0712345678")
    both = browser.get("/customer/find?q=kamal").get_data(as_text=True)
    assert "Kamal Perera" in both and "Kamala Silva" in both
    assert web_as("oem_tata").get("/customer/find?q=kamal").status_code == 403


def test_the_topup_desk_credits_and_stores_the_receipt(web_as, session, app, customer):
    browser = web_as("finance")
    desk = browser.get(f"/topups/?customer_id={customer.id}").get_data(as_text=True)
    assert "Kamal Perera" in desk
    response = browser.post("/topups/new", data={
        "csrf_token": csrf_token(desk), "customer": "077 123 4567", "amount": "2,000.00", "receipt_no": "BOC-1",
        "note": "Bank deposit", "receipt": (io.BytesIO(PDF), "slip.pdf")}, content_type="multipart/form-data")
    assert response.status_code == 302
    assert balance_of(session, customer.id) == Decimal("2000.00")
    topup = session.scalar(select(TopUp))
    receipt = browser.get(f"/topups/{topup.id}/receipt")
    assert receipt.status_code == 200 and receipt.data == PDF

    bad = browser.post("/topups/new", data={
        "csrf_token": csrf_token(desk), "customer": str(customer.id), "amount": "12.345", "receipt_no": "BOC-2",
        "note": "x"}, content_type="multipart/form-data")
    assert bad.status_code == 400 and "at most two decimal places" in bad.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(TopUp)) == 1


def test_the_checker_approves_on_the_desk_but_not_their_own(web_as, session, app, customer, monkeypatch):
    monkeypatch.setitem(app.config, "TOPUP_APPROVAL_THRESHOLD", "1000.00")
    finance = web_as("finance")
    desk = finance.get("/topups/").get_data(as_text=True)
    finance.post("/topups/new", data={"csrf_token": csrf_token(desk), "customer": str(customer.id), "amount": "5000",
                                      "receipt_no": "BIG-1", "note": "cheque"}, content_type="multipart/form-data")
    topup = session.scalar(select(TopUp))
    assert topup.status == "Pending approval" and balance_of(session, customer.id) == Decimal("0.00")
    desk = finance.get("/topups/").get_data(as_text=True)
    assert "another person must approve" in desk
    own = finance.post(f"/topups/{topup.id}/approve", data={"csrf_token": csrf_token(desk)}, follow_redirects=True)
    assert "cannot approve" in own.get_data(as_text=True)
    assert balance_of(session, customer.id) == Decimal("0.00")

    manager = web_as("manager")
    desk = manager.get("/topups/").get_data(as_text=True)
    assert "Approve</button>" in desk
    manager.post(f"/topups/{topup.id}/approve", data={"csrf_token": csrf_token(desk)})
    session.expire_all()
    assert balance_of(session, customer.id) == Decimal("5000.00")
    agent = web_as("agent")
    agent_desk = agent.get("/topups/").get_data(as_text=True)
    assert "Approve</button>" not in agent_desk and "New top-up" not in agent_desk
    # an agent cannot approve either: a fresh pending top-up stays pending and credits nothing
    finance.post("/topups/new", data={"csrf_token": csrf_token(finance.get("/topups/").get_data(as_text=True)),
                                      "customer": str(customer.id), "amount": "2000", "receipt_no": "BIG-2", "note": "cheque"},
                 content_type="multipart/form-data")
    pending = session.scalar(select(TopUp).where(TopUp.receipt_no == "BIG-2"))
    assert pending.status == "Pending approval"
    token = csrf_token(agent.get("/customerview/add").get_data(as_text=True))
    agent.post(f"/topups/{pending.id}/approve", data={"csrf_token": token})
    session.expire_all()
    assert session.get(TopUp, pending.id).status == "Pending approval"
    assert balance_of(session, customer.id) == Decimal("5000.00")


def test_the_audit_trail_exports_to_excel_and_offers_no_edit(web_as, session, customer):
    top_up_wallet(session, customer.id, "300.00", "R-1", "cash", user_id=None)
    charge_wallet(session, customer.id, "100.00", user_id=None, reason="session", reference="S-1")
    session.commit()
    browser = web_as("finance")
    listing = browser.get("/walletentryview/list/").get_data(as_text=True)
    assert "Export to Excel" in listing and "/walletentryview/edit/" not in listing and "/walletentryview/delete/" not in listing
    assert browser.get("/walletentryview/edit/1").status_code == 403

    export = browser.get("/walletentryview/export?_flt_0_entry_type=charge")
    assert export.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(export.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:8] == ("Entry #", "When", "Customer #", "Customer", "Currency", "Type", "Amount", "Balance after")
    assert [(r[3], r[5], r[6], r[7]) for r in rows[1:]] == [("Kamal Perera", "charge", -100.0, 200.0)]
    assert len(list(openpyxl.load_workbook(io.BytesIO(browser.get("/walletentryview/export").data)).active.rows)) == 3
    assert web_as("agent").get("/walletentryview/export").status_code == 403


def test_the_settlement_upload_screen_reports_rejects(web_as, session, customer):
    browser = web_as("finance")
    page = browser.get("/settlements/").get_data(as_text=True)
    csv = b"reference,date,amount,status,phone\nD-1,2026-11-01,100.00,Settled,0771234567\nD-2,2026-11-01,-4,Settled,\n"
    response = browser.post("/settlements/upload", data={
        "csrf_token": csrf_token(page), "provider": "Dialog", "file": (io.BytesIO(csv), "dialog.csv")},
        content_type="multipart/form-data")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "1 new" in html and "amount must be positive" in html
    again = browser.post("/settlements/upload", data={
        "csrf_token": csrf_token(page), "provider": "Dialog", "file": (io.BytesIO(csv), "dialog.csv")},
        content_type="multipart/form-data").get_data(as_text=True)
    assert "0 new, 0 updated, 1 unchanged" in again
    assert session.scalar(select(func.count()).select_from(Payment)) == 1
