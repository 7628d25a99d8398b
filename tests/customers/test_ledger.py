"""The wallet ledger: append-only, corrected by reversal (once), debits never below zero, sums to the balance."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select, text

from app.models.customers import LedgerIsAppendOnly, WalletEntry
from app.services.customers import balance_of
from app.services.customers_topups import top_up_wallet
from app.services.customers_wallet import wallets_out_of_balance


@pytest.fixture
def funded(session, customer):
    top_up_wallet(session, customer.id, "500.00", "R-500", "cash", user_id=None)
    session.commit()
    return customer


def test_a_reversal_corrects_an_entry_once(api_as, session, funded):
    finance = api_as("finance")
    entry_id = session.scalar(select(WalletEntry.id))
    reversed_ = finance.post(f"/api/v1/wallet/entries/{entry_id}/reverse", json={"reason": "wrong customer"})
    assert reversed_.status_code == 201, reversed_.json
    result = reversed_.json["result"]
    assert (result["entry_type"], result["amount"], result["balance_after"], result["reverses_id"]) == (
        "reversal", "-500.00", "0.00", entry_id,
    )
    assert balance_of(session, funded.id) == Decimal("0.00")

    again = finance.post(f"/api/v1/wallet/entries/{entry_id}/reverse", json={"reason": "again"})
    assert again.status_code == 409 and "already reversed" in again.json["message"]
    of_reversal = finance.post(f"/api/v1/wallet/entries/{result['id']}/reverse", json={"reason": "undo"})
    assert of_reversal.status_code == 409 and "itself a reversal" in of_reversal.json["message"]
    assert finance.post(f"/api/v1/wallet/entries/{entry_id}/reverse", json={}).status_code == 400
    assert finance.post("/api/v1/wallet/entries/99999/reverse", json={"reason": "x"}).status_code == 404
    session.expire_all()
    assert len(session.scalars(select(WalletEntry)).all()) == 2
    assert wallets_out_of_balance(session) == []


def test_a_reversal_of_spent_money_may_take_the_wallet_below_zero(api_as, session, funded):
    finance = api_as("finance")
    topup_entry = session.scalar(select(WalletEntry.id))
    assert finance.post("/api/v1/wallet/charges", json={
        "customer_id": funded.id, "amount": "400", "reason": "session 88", "reference": "S-88"}).status_code == 201
    reversal = finance.post(f"/api/v1/wallet/entries/{topup_entry}/reverse", json={"reason": "cheque bounced"})
    assert reversal.status_code == 201
    assert balance_of(session, funded.id) == Decimal("-400.00")


def test_debits_below_zero_are_refused_and_refunds_credit(api_as, session, funded):
    finance = api_as("finance")
    too_much = finance.post("/api/v1/wallet/charges", json={
        "customer_id": funded.id, "amount": "500.01", "reason": "session", "reference": "S-1"})
    assert too_much.status_code == 409
    assert "insufficient balance: 500.00 LKR available" in too_much.json["message"]
    exact = finance.post("/api/v1/wallet/charges", json={
        "customer_id": funded.id, "amount": "500.00", "reason": "session", "reference": "S-2"})
    assert exact.status_code == 201 and exact.json["result"]["balance_after"] == "0.00"
    # the same charge reference twice is one charge
    assert finance.post("/api/v1/wallet/charges", json={
        "customer_id": funded.id, "amount": "500.00", "reason": "session", "reference": "S-2"}).status_code == 200
    refund = finance.post("/api/v1/wallet/refunds", json={
        "customer_id": funded.id, "amount": "120.50", "reason": "session failed", "reference": "S-2"})
    assert refund.status_code == 201 and refund.json["result"]["balance_after"] == "120.50"
    down = finance.post("/api/v1/wallet/adjustments", json={
        "customer_id": funded.id, "amount": "-200", "reason": "correction", "reference": "ADJ-1"})
    assert down.status_code == 409
    up = finance.post("/api/v1/wallet/adjustments", json={
        "customer_id": funded.id, "amount": "-20.50", "reason": "correction", "reference": "ADJ-2"})
    assert up.status_code == 201 and up.json["result"]["balance_after"] == "100.00"
    assert balance_of(session, funded.id) == Decimal("100.00")
    assert wallets_out_of_balance(session) == []


def test_bad_charge_input_is_400(api_as, funded):
    finance = api_as("finance")
    for body, message in [
        ({"customer_id": funded.id, "amount": "-5", "reason": "x", "reference": "a"}, "must be positive"),
        ({"customer_id": funded.id, "amount": "5", "reason": "", "reference": "a"}, "reason is required"),
        ({"customer_id": funded.id, "amount": "5", "reason": "x"}, "reference is required"),
    ]:
        response = finance.post("/api/v1/wallet/charges", json=body)
        assert response.status_code == 400 and message in response.json["message"], response.json
    response = finance.post("/api/v1/wallet/charges", json={"customer_id": 424242, "amount": "5", "reason": "x", "reference": "a"})
    assert response.status_code == 404 and "customer 424242 not found" in response.json["message"]


def test_ledger_rows_cannot_be_edited_or_deleted(api_as, session, funded):
    entry = session.scalar(select(WalletEntry))
    entry.amount = Decimal("1.00")
    with pytest.raises(LedgerIsAppendOnly):
        session.flush()
    session.rollback()
    entry = session.scalar(select(WalletEntry))
    session.delete(entry)
    with pytest.raises(LedgerIsAppendOnly):
        session.flush()
    session.rollback()

    finance = api_as("finance")
    assert finance.get(f"/api/v1/wallet_entries/{entry.id}").status_code == 200
    assert finance.put(f"/api/v1/wallet_entries/{entry.id}", json={"amount": "1"}).status_code == 405
    assert finance.delete(f"/api/v1/wallet_entries/{entry.id}").status_code == 405
    assert finance.post("/api/v1/wallet_entries/", json={"amount": "1"}).status_code == 405
    assert balance_of(session, funded.id) == Decimal("500.00")


def test_agents_cannot_move_money(api_as, funded):
    agent = api_as("agent")
    assert agent.post("/api/v1/wallet/charges", json={
        "customer_id": funded.id, "amount": "5", "reason": "x", "reference": "a"}).status_code == 403
    assert agent.post("/api/v1/wallet/entries/1/reverse", json={"reason": "x"}).status_code == 403
    assert agent.get("/api/v1/wallet_entries/").status_code == 403


def test_check_wallets_command_finds_a_wallet_that_does_not_match_its_ledger(app, session, funded):
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["check-wallets"])
    assert ok.exit_code == 0, ok.output
    assert "1 wallets checked, all match their ledger" in ok.output
    # someone changes a balance behind the ledger's back
    session.execute(text("UPDATE wallet SET balance = 999.99"))
    session.commit()
    bad = runner.invoke(args=["check-wallets"])
    assert bad.exit_code == 1
    assert f"customer #{funded.id}" in bad.output and "balance 999.99" in bad.output and "ledger 500.00" in bad.output


def test_the_nightly_wallet_check_notifies_finance_and_managers(celery_worker, session, funded):
    from app.models.messaging import Notification
    from app.tasks.customers import check_wallets_task

    assert check_wallets_task.delay().get(timeout=30) == 0
    session.execute(text("UPDATE wallet SET balance = 1.00"))
    session.commit()
    assert check_wallets_task.delay().get(timeout=30) == 1
    session.expire_all()
    notes = session.scalars(select(Notification).where(Notification.kind == "wallet_mismatch")).all()
    assert sorted(n.user.username for n in notes) == ["finance", "manager"]
    assert "balance 1.00, ledger 500.00" in notes[0].body
