"""POST /api/v1/wallet/topups per the contract: once per receipt, clear 400s that write nothing, maker-checker."""
from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.models.customers import Payment, TopUp, WalletEntry
from app.models.people import ActivityLog
from app.services.customers import balance_of

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
GIF = b"GIF89a" + b"\x00" * 64


def _count(session, model):
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


def _receipts(app) -> list[Path]:
    folder = Path(app.config["UPLOAD_DIR"]) / "receipts"
    return sorted(folder.glob("*")) if folder.exists() else []


def _nothing_written(session, app, before_files):
    assert _count(session, TopUp) == 0
    assert _count(session, WalletEntry) == 0
    assert _count(session, Payment) == 0
    assert _receipts(app) == before_files


def test_a_topup_credits_the_wallet_and_a_repeated_receipt_credits_once(api_as, session, customer):
    finance = api_as("finance")
    body = {"customer_id": customer.id, "amount": "1500.00", "receipt_no": "RCPT-001", "note": "Cash at Colombo office"}

    first = finance.post("/api/v1/wallet/topups", json=body)
    assert first.status_code == 201, first.json
    assert first.json["result"]["status"] == "Credited"
    assert first.json["result"]["balance_after"] == "1500.00"

    again = finance.post("/api/v1/wallet/topups", json=body)
    assert again.status_code == 200
    assert again.json == first.json
    assert api_as("manager").post("/api/v1/wallet/topups", json=body).status_code == 200

    assert balance_of(session, customer.id) == Decimal("1500.00")
    assert _count(session, WalletEntry) == 1
    entry = session.scalar(select(WalletEntry))
    assert entry.entry_type == "topup" and entry.created_by.username == "finance"
    assert "RCPT-001" in entry.reason and entry.source_ref == "RCPT-001"
    # the manual receipt shows in payment history too
    payment = session.scalar(select(Payment))
    assert (payment.provider, payment.provider_ref, payment.amount) == ("Manual", "RCPT-001", Decimal("1500.00"))
    assert session.scalar(select(ActivityLog).where(ActivityLog.kind == "wallet_topup")) is not None


def test_a_receipt_number_reused_for_a_different_topup_is_a_conflict(api_as, session, customer):
    finance = api_as("finance")
    finance.post("/api/v1/wallet/topups", json={"customer_id": customer.id, "amount": "100", "receipt_no": "R-9"})
    other = finance.post("/api/v1/wallet/topups", json={"customer_id": customer.id, "amount": "200", "receipt_no": "R-9"})
    assert other.status_code == 409
    assert "R-9 was already used" in other.json["message"]
    assert balance_of(session, customer.id) == Decimal("100.00")


@pytest.mark.parametrize(
    "amount, message",
    [
        (-50, "must be positive"),
        ("-0.50", "must be positive"),
        (0, "must not be zero"),
        ("0.00", "must not be zero"),
        ("abc", "must be a number"),
        ("12,5x", "must be a number"),
        (True, "must be a number"),
        ([10], "must be a number"),
        ("10.123", "at most two decimal places"),
        (10.005, "at most two decimal places"),
        ("NaN", "finite"),
        ("99999999999", "above the limit"),
        (None, "amount is required"),
    ],
)
def test_bad_amounts_are_400_with_a_clear_message_and_write_nothing(api_as, session, app, customer, amount, message):
    before = _receipts(app)
    response = api_as("finance").post(
        "/api/v1/wallet/topups", json={"customer_id": customer.id, "amount": amount, "receipt_no": "R-1", "note": "x"}
    )
    assert response.status_code == 400
    assert message in response.json["message"]
    assert "amount" in response.json["message"]
    _nothing_written(session, app, before)
    assert balance_of(session, customer.id) == Decimal("0.00")


@pytest.mark.parametrize("customer_id, status, message", [
    (999999, 404, "customer 999999 not found"), ("abc", 400, "whole number"), (None, 400, "whole number"),
])
def test_an_unknown_customer_is_404_a_bad_id_400_and_nothing_written(api_as, session, app, customer_id, status, message):
    before = _receipts(app)
    response = api_as("finance").post(
        "/api/v1/wallet/topups", json={"customer_id": customer_id, "amount": "10.00", "receipt_no": "R-1"}
    )
    assert response.status_code == status
    assert message in response.json["message"]
    _nothing_written(session, app, before)


def test_a_missing_receipt_number_is_400(api_as, session, app, customer):
    before = _receipts(app)
    response = api_as("finance").post("/api/v1/wallet/topups", json={"customer_id": customer.id, "amount": "10.00"})
    assert response.status_code == 400 and "receipt_no is required" in response.json["message"]
    _nothing_written(session, app, before)


def _upload(api, customer_id, filename, content, receipt_no="R-FILE"):
    return api.post(
        "/api/v1/wallet/topups",
        data={"customer_id": str(customer_id), "amount": "250.00", "receipt_no": receipt_no, "note": "bank slip",
              "receipt": (io.BytesIO(content), filename)},
        content_type="multipart/form-data",
    )


def test_a_receipt_file_is_stored_outside_the_web_root_under_a_generated_name(api_as, session, app, customer):
    response = _upload(api_as("finance"), customer.id, "../../slip.pdf", PDF)
    assert response.status_code == 201, response.json
    topup = session.scalar(select(TopUp))
    stored = _receipts(app)
    assert len(stored) == 1 and stored[0].name == topup.receipt_file
    assert stored[0].read_bytes() == PDF and stored[0].suffix == ".pdf" and "slip" not in stored[0].name
    assert topup.receipt_filename == "slip.pdf" and topup.receipt_content_type == "application/pdf"
    assert balance_of(session, customer.id) == Decimal("250.00")
    assert _upload(api_as("finance"), customer.id, "photo.png", PNG, "R-PNG").status_code == 201


@pytest.mark.parametrize(
    "filename, content, message",
    [
        ("slip.pdf", GIF, "must be a PDF, JPEG or PNG"),
        ("slip.pdf", b"just text pretending", "must be a PDF, JPEG or PNG"),
        ("slip.pdf", b"", "is empty"),
        ("big.pdf", b"%PDF-" + b"0" * 2000, "the limit is 1000 bytes"),
    ],
)
def test_oversized_or_wrong_type_receipt_files_are_400_and_write_nothing(
    api_as, session, app, customer, monkeypatch, filename, content, message
):
    monkeypatch.setitem(app.config, "TOPUP_RECEIPT_MAX_BYTES", 1000)
    before = _receipts(app)
    response = _upload(api_as("finance"), customer.id, filename, content)
    assert response.status_code == 400
    assert message in response.json["message"]
    _nothing_written(session, app, before)


def test_topups_above_the_threshold_wait_for_a_second_person(api_as, session, customer, monkeypatch, app):
    monkeypatch.setitem(app.config, "TOPUP_APPROVAL_THRESHOLD", "50000.00")
    finance, manager = api_as("finance"), api_as("manager")
    small = finance.post("/api/v1/wallet/topups", json={"customer_id": customer.id, "amount": "50000.00", "receipt_no": "R-S"})
    assert small.status_code == 201 and small.json["result"]["status"] == "Credited"

    big = finance.post("/api/v1/wallet/topups", json={"customer_id": customer.id, "amount": "75000.00", "receipt_no": "R-B"})
    assert big.status_code == 201
    assert big.json["result"]["status"] == "Pending approval" and big.json["result"]["credited"] is False
    assert balance_of(session, customer.id) == Decimal("50000.00")
    topup_id = big.json["id"]

    own = finance.post(f"/api/v1/wallet/topups/{topup_id}/approve")
    assert own.status_code == 403 and "second person" in own.json["message"]
    assert api_as("agent").post(f"/api/v1/wallet/topups/{topup_id}/approve").status_code == 403
    session.expire_all()
    assert balance_of(session, customer.id) == Decimal("50000.00")

    approved = manager.post(f"/api/v1/wallet/topups/{topup_id}/approve")
    assert approved.status_code == 200, approved.json
    assert approved.json["result"]["status"] == "Credited" and approved.json["result"]["decided_by"] == "manager"
    assert approved.json["result"]["balance_after"] == "125000.00"
    assert balance_of(session, customer.id) == Decimal("125000.00")
    entry = session.get(WalletEntry, approved.json["result"]["entry_id"])
    assert entry.created_by.username == "manager"

    assert manager.post(f"/api/v1/wallet/topups/{topup_id}/approve").status_code == 409
    # a repeat of the original request still returns the (now credited) first top-up and credits nothing
    repeat = finance.post("/api/v1/wallet/topups", json={"customer_id": customer.id, "amount": "75000.00", "receipt_no": "R-B"})
    assert repeat.status_code == 200 and repeat.json["id"] == topup_id
    assert balance_of(session, customer.id) == Decimal("125000.00")


def test_a_rejected_topup_is_never_credited(api_as, session, customer, monkeypatch, app):
    monkeypatch.setitem(app.config, "TOPUP_APPROVAL_THRESHOLD", "100.00")
    big = api_as("manager").post("/api/v1/wallet/topups", json={"customer_id": customer.id, "amount": "500", "receipt_no": "R-X"})
    rejected = api_as("finance").post(f"/api/v1/wallet/topups/{big.json['id']}/reject", json={"reason": "slip is fake"})
    assert rejected.status_code == 200 and rejected.json["result"]["status"] == "Rejected"
    assert api_as("admin").post(f"/api/v1/wallet/topups/{big.json['id']}/approve").status_code == 409
    assert balance_of(session, customer.id) == Decimal("0.00")
    assert _count(session, WalletEntry) == 0


@pytest.mark.parametrize("username", ["agent", "dispatcher", "installer", "cpo", "centralops", "oem_tata"])
def test_only_finance_manager_and_admin_top_up(api_as, session, customer, username):
    response = api_as(username).post(
        "/api/v1/wallet/topups", json={"customer_id": customer.id, "amount": "10.00", "receipt_no": "R-1"}
    )
    assert response.status_code == 403
    assert _count(session, TopUp) == 0


def test_admin_tops_up(api_as, customer):
    response = api_as("admin").post("/api/v1/wallet/topups", json={"customer_id": customer.id, "amount": "10.00", "receipt_no": "R-A"})
    assert response.status_code == 201
