"""The REST API and the browser's session cookie: unsafe calls need the page's CSRF token (defect 2)."""
from __future__ import annotations

from sqlalchemy import func, select

from tests.conftest import csrf_token


def _customer(session):
    from app.models.customers import Customer

    customer = Customer(name="Nuwan Silva", phone="+94771110000")
    session.add(customer)
    session.commit()
    return customer.id


def _counts(session):
    from app.models.customers import TopUp, WalletEntry

    session.expire_all()
    return session.scalar(select(func.count(TopUp.id))), session.scalar(select(func.count(WalletEntry.id)))


def test_a_cross_site_post_with_the_cookie_only_writes_nothing(session, web_as):
    customer_id = _customer(session)
    browser = web_as("finance")
    response = browser.post(
        "/api/v1/wallet/topups", json={"customer_id": customer_id, "amount": "500.00", "receipt_no": "R-X1", "note": "x"},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 400 and response.is_json and "CSRF" in response.json["message"]
    form = browser.post(
        "/api/v1/wallet/topups", data={"customer_id": customer_id, "amount": "500.00", "receipt_no": "R-X2"},
        headers={"Origin": "https://evil.example"},
    )
    assert form.status_code == 400
    assert _counts(session) == (0, 0)


def test_the_pages_own_calls_carry_the_token_and_work(session, web_as, api_as):
    customer_id = _customer(session)
    browser = web_as("finance")
    token = csrf_token(browser.get("/apikeys/").get_data(as_text=True))
    response = browser.post(
        "/api/v1/wallet/topups", json={"customer_id": customer_id, "amount": "500.00", "receipt_no": "R-1", "note": "desk"},
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    bearer = api_as("finance").post(
        "/api/v1/wallet/topups", json={"customer_id": customer_id, "amount": "200.00", "receipt_no": "R-2", "note": "api"}
    )
    assert bearer.status_code == 201
