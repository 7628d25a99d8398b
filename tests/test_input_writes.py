"""A refused write writes nothing, and nothing corrupting is ever stored."""
from __future__ import annotations

import pytest

from app.extensions import db


def _group(session):
    from app.models.messaging import NotificationGroup

    session.add(NotificationGroup(code="ops", name="Ops", whatsapp=False, active=True))
    session.commit()


@pytest.mark.parametrize("body", [
    {"group": "ops", "kind": {"a": 1}, "title": "t"},
    {"group": "ops", "kind": "k", "title": ["a", "b"]},
    {"group": "ops", "kind": "k", "title": "t", "body": {"a": 1}},
    {"group": "ops", "kind": "k", "title": "t", "ref_id": {"a": 1}},
    {"group": "ops", "kind": "k", "title": "x" * 100_000},
    {"group": "ops", "kind": "k", "title": "t", "extra": 1},
    {"group": "nope", "kind": "k", "title": "t"},
])
def test_a_refused_alert_is_not_kept(api_as, session, body):
    from app.models.messaging import Alert

    _group(session)
    response = api_as("admin").post("/api/v1/alerts/", json=body)
    assert 400 <= response.status_code < 500, (body, response.status_code)
    assert response.json["message"]
    db.session.expire_all()
    assert session.query(Alert).count() == 0


def _customer(api):
    response = api.post("/api/v1/customers/", json={"name": "Kamal Silva", "phone": "0771234567", "phones": ["0712345678"]})
    assert response.status_code == 201, response.json
    return response.json["id"]


@pytest.mark.parametrize("change", [
    {"phone": []}, {"phone": {"a": 1}}, {"address": {"a": 1}}, {"notes": ["x"]}, {"name": "a\x00b"},
    {"name": "x" * 121}, {"notes": "x" * 100_001}, {"name": 5},
])
def test_corrupting_customer_changes_are_refused_and_change_nothing(api_as, session, change):
    from app.models.customers import Customer

    api = api_as("agent")
    pk = _customer(api)
    response = api.put(f"/api/v1/customers/{pk}", json=change)
    assert response.status_code == 400, (change, response.status_code, response.json)
    db.session.expire_all()
    customer = db.session.get(Customer, pk)
    assert customer.name == "Kamal Silva" and customer.address is None and customer.notes is None
    assert sorted(p.phone for p in customer.phones) == ["+94712345678", "+94771234567"]


@pytest.mark.parametrize("field", ["survey_rate", "installation_rate"])
def test_negative_rates_are_refused(api_as, session, field):
    from app.models.people import FieldTeam

    api = api_as("manager")
    assert api.post("/api/v1/field_teams/", json={"name": "Team Minus", field: -5}).status_code == 400
    team = session.query(FieldTeam).first()
    assert api.put(f"/api/v1/field_teams/{team.id}", json={field: -1}).status_code == 400
    assert api.put(f"/api/v1/field_teams/{team.id}", json={field: 1e16}).status_code == 400
    db.session.expire_all()
    assert session.query(FieldTeam).filter_by(name="Team Minus").first() is None
    assert getattr(db.session.get(FieldTeam, team.id), field) >= 0


@pytest.mark.parametrize("currency", ["XYZ", "usd", "LKRR", 5, {"a": 1}])
def test_a_wallet_is_only_made_in_an_enabled_currency(api_as, session, currency):
    from app.models.customers import Wallet

    pk = _customer(api_as("agent"))
    before = session.query(Wallet).count()
    response = api_as("manager").post("/api/v1/wallet/charges", json={
        "customer_id": pk, "amount": "10.00", "reason": "test", "reference": f"c-{currency}", "currency": currency,
    })
    assert response.status_code == 400, (currency, response.status_code, response.json)
    db.session.expire_all()
    assert session.query(Wallet).count() == before


def test_an_enabled_currency_other_than_the_default_works(app, api_as, session):
    from app.models.customers import Wallet

    app.config["ENABLED_CURRENCIES"] = ["LKR", "USD"]
    try:
        pk = _customer(api_as("agent"))
        response = api_as("manager").post("/api/v1/wallet/refunds", json={
            "customer_id": pk, "amount": "10.00", "reason": "goodwill", "reference": "r-usd", "currency": "usd",
        })
        assert response.status_code == 201, response.json
        assert session.query(Wallet).filter_by(customer_id=pk, currency="USD").count() == 1
    finally:
        app.config["ENABLED_CURRENCIES"] = [app.config["DEFAULT_CURRENCY"]]
