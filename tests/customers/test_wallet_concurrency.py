"""50 concurrent top-ups and debits on one wallet, over real HTTP from real threads, end exact."""
from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from sqlalchemy import func, select

from app.models.customers import Wallet, WalletEntry
from app.services.customers_topups import top_up_wallet
from app.services.customers_wallet import wallets_out_of_balance
from tests.conftest import PASSWORD


def _post(url, body, token=None):
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _login(base, username):
    status, body = _post(f"{base}/api/v1/security/login", {"username": username, "password": PASSWORD, "provider": "db"})
    assert status == 200, body
    return body["access_token"]


def _run_all(calls):
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait(timeout=30)  # all threads fire together
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def _wallet_state(session, customer_id):
    session.expire_all()
    wallet = session.scalar(select(Wallet).where(Wallet.customer_id == customer_id))
    ledger_sum = session.scalar(select(func.sum(WalletEntry.amount)).where(WalletEntry.wallet_id == wallet.id))
    count = session.scalar(select(func.count()).select_from(WalletEntry).where(WalletEntry.wallet_id == wallet.id))
    return wallet.balance, Decimal(str(ledger_sum)).quantize(Decimal("0.01")), count


def test_50_concurrent_topups_and_debits_end_with_the_exact_balance(live_server, session, customer):
    top_up_wallet(session, customer.id, "1000.00", "OPENING", "opening balance", user_id=None)
    session.commit()
    customer_id = customer.id
    base = live_server.url
    finance, manager = _login(base, "finance"), _login(base, "manager")
    calls = []
    for i in range(25):
        calls.append(lambda i=i: _post(f"{base}/api/v1/wallet/topups",
                                       {"customer_id": customer_id, "amount": "10.01", "receipt_no": f"R-{i}", "note": "cash"}, finance))
        calls.append(lambda i=i: _post(f"{base}/api/v1/wallet/charges",
                                       {"customer_id": customer_id, "amount": 37.13, "reason": "session", "reference": f"S-{i}"}, manager))
    results = _run_all(calls)

    assert [status for status, _ in results] == [201] * 50, [r for r in results if r[0] != 201][:3]
    expected = Decimal("1000.00") + 25 * Decimal("10.01") - 25 * Decimal("37.13")
    balance, ledger_sum, count = _wallet_state(session, customer.id)
    assert balance == expected == ledger_sum
    assert count == 51
    # every entry's balance_after is a distinct step of one serial history
    entries = session.scalars(select(WalletEntry).order_by(WalletEntry.id)).all()
    running = Decimal("0.00")
    for entry in entries:
        running += entry.amount
        assert entry.balance_after == running
    assert wallets_out_of_balance(session) == []


def test_concurrent_debits_never_take_the_wallet_below_zero(live_server, session, customer):
    top_up_wallet(session, customer.id, "100.00", "OPENING", "opening balance", user_id=None)
    session.commit()
    customer_id = customer.id
    base = live_server.url
    finance = _login(base, "finance")
    calls = [
        lambda i=i: _post(f"{base}/api/v1/wallet/charges",
                          {"customer_id": customer_id, "amount": "10.00", "reason": "session", "reference": f"S-{i}"}, finance)
        for i in range(20)
    ]
    results = _run_all(calls)

    statuses = sorted(status for status, _ in results)
    assert statuses == [201] * 10 + [409] * 10
    refused = [body for status, body in results if status == 409]
    assert all("insufficient balance" in body["message"] for body in refused)
    balance, ledger_sum, count = _wallet_state(session, customer.id)
    assert balance == Decimal("0.00") == ledger_sum
    assert count == 11
