"""Customers over REST: lookup by any written form of a phone, duplicates refused, role checks."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.models.customers import Customer, CustomerPhone, Wallet
from app.services.customers import balance_of, find_by_email, find_by_phone, search_customers
from app.services.customers_topups import top_up_wallet


@pytest.fixture
def kamal(session, make_customer):
    customer = make_customer(
        "Kamal Perera", "077 123 4567", phones=["0112 345 678", "+94 71 555 1234"], email="Kamal.Perera@example.lk",
        tags=["04A2B3C4D5"], vehicles=[{"make": "Nissan", "model": "Leaf", "plate": "cab-1234"}],
    )
    top_up_wallet(session, customer.id, "2500.00", "R-K", "cash", user_id=None)
    session.commit()
    return customer


@pytest.mark.parametrize(
    "written", ["077 123 4567", "0771234567", "+94771234567", "0094771234567", "0094 77 123 4567", "+94 (77) 123-4567",
                "94771234567", "071 555 1234", "+94112345678"],
)
def test_lookup_finds_the_customer_by_any_written_form_of_any_of_their_numbers(api_as, kamal, written):
    response = api_as("agent").get("/api/v1/customers/lookup", query_string={"phone": written})
    assert response.status_code == 200, response.json
    assert response.json["count"] == 1
    found = response.json["result"][0]
    assert (found["id"], found["name"], found["balance"], found["currency"]) == (kamal.id, "Kamal Perera", "2500.00", "LKR")
    assert found["phone"] == "+94771234567"
    assert set(found["phones"]) == {"+94771234567", "+94112345678", "+94715551234"}
    assert found["vehicles"] == [{"make": "Nissan", "model": "Leaf", "plate": "CAB-1234"}]


def test_lookup_by_email_ignores_case(api_as, kamal):
    response = api_as("dispatcher").get("/api/v1/customers/lookup?email=kamal.perera@EXAMPLE.lk")
    assert response.status_code == 200 and [c["id"] for c in response.json["result"]] == [kamal.id]


def test_lookup_of_an_unknown_number_is_an_empty_list(api_as, kamal):
    response = api_as("agent").get("/api/v1/customers/lookup?phone=0779999999")
    assert response.status_code == 200 and response.json == {"count": 0, "result": []}


@pytest.mark.parametrize(
    "query, message",
    [("", "give a phone or an email"), ("?phone=", "give a phone or an email"), ("?phone=hello", "not a phone number"),
     ("?phone=12", "not"), ("?email=not-an-email", "not an email address")],
)
def test_lookup_with_a_bad_or_missing_query_is_400(api_as, kamal, query, message):
    response = api_as("agent").get(f"/api/v1/customers/lookup{query}")
    assert response.status_code == 400 and message in response.json["message"]


@pytest.mark.parametrize("username, allowed", [
    ("manager", True), ("dispatcher", True), ("agent", True), ("installer", True), ("cpo", True), ("finance", True),
    ("admin", True), ("oem_tata", False), ("fieldteam", False), ("procurement", False),
])
def test_lookup_is_for_support_field_and_finance_roles(api_as, kamal, username, allowed):
    response = api_as(username).get("/api/v1/customers/lookup?phone=0771234567")
    assert (response.status_code == 200) is allowed
    if not allowed:
        assert response.status_code == 403


def test_creating_a_customer_normalises_phones_and_opens_a_wallet(api_as, session):
    response = api_as("agent").post("/api/v1/customers/", json={
        "name": "Nadeesha Wijesinghe", "phone": "076 234 5678", "phones": ["0094702345678"],
        "email": "nadeesha@example.lk", "address": "12 Galle Road, Colombo 03", "tags": ["rfid-0001"],
        "vehicles": [{"make": "BYD", "model": "Atto 3", "plate": "CBK 4567"}],
    })
    assert response.status_code == 201, response.json
    customer = session.get(Customer, response.json["id"])
    assert customer.phone == "+94762345678"
    assert [p.phone for p in customer.phones] == ["+94762345678", "+94702345678"]
    assert [t.tag for t in customer.tags] == ["RFID-0001"]
    assert balance_of(session, customer.id) == Decimal("0.00")
    assert find_by_phone(session, "070 234 5678").id == customer.id
    assert [c.id for c in find_by_email(session, "NADEESHA@example.lk")] == [customer.id]
    assert [c.id for c in search_customers(session, "wijesinghe")] == [customer.id]
    assert [c.id for c in search_customers(session, "0762345678")] == [customer.id]
    assert [c.id for c in search_customers(session, "RFID-0001")] == [customer.id]


@pytest.mark.parametrize("phone_field", [{"phone": "0771234567"}, {"phone": "0779999999", "phones": ["+94 71 555 1234"]}])
def test_a_duplicate_phone_is_refused_naming_the_existing_customer(api_as, session, kamal, phone_field):
    response = api_as("agent").post("/api/v1/customers/", json={"name": "Someone Else", **phone_field})
    assert response.status_code == 409
    assert "already belongs to customer" in response.json["message"] and "Kamal Perera" in response.json["message"]
    assert session.scalar(select(func.count()).select_from(Customer)) == 1


def test_updating_a_customer_cannot_take_another_customers_number(api_as, session, kamal, make_customer):
    other = make_customer("Sunil Silva", "0719876543")
    agent = api_as("agent")
    taken = agent.put(f"/api/v1/customers/{other.id}", json={"phones": ["0771234567"]})
    assert taken.status_code == 409 and "Kamal Perera" in taken.json["message"]
    moved = agent.put(f"/api/v1/customers/{other.id}", json={"phone": "0712223334", "email": "sunil@example.lk"})
    assert moved.status_code == 200, moved.json
    session.expire_all()
    assert find_by_phone(session, "0712223334").id == other.id
    assert find_by_phone(session, "0719876543") is None  # the old primary was replaced
    assert agent.put("/api/v1/customers/99999", json={"name": "x"}).status_code == 404


@pytest.mark.parametrize("body, message", [
    ({"phone": "0771112223"}, "name is required"),
    ({"name": "X", "phone": "12345"}, "not"),
    ({"name": "X", "email": "nope"}, "not an email address"),
    ({"name": "X", "vehicles": [{"make": "BYD"}]}, "make and a model"),
    ({"name": "X", "colour": "red"}, "unknown field"),
])
def test_bad_customer_input_is_400(api_as, session, body, message):
    response = api_as("agent").post("/api/v1/customers/", json=body)
    assert response.status_code == 400 and message in response.json["message"].lower(), response.json
    assert session.scalar(select(func.count()).select_from(Customer)) == 0


def test_a_duplicate_tag_is_refused(api_as, kamal):
    response = api_as("agent").post("/api/v1/customers/", json={"name": "X", "tags": ["04a2b3c4d5"]})
    assert response.status_code == 409 and "Kamal Perera" in response.json["message"]


def test_customer_list_and_show(api_as, kamal):
    listed = api_as("cpo").get("/api/v1/customers/")
    assert listed.status_code == 200 and listed.json["count"] == 1
    shown = api_as("finance").get(f"/api/v1/customers/{kamal.id}")
    assert shown.status_code == 200 and shown.json["result"]["name"] == "Kamal Perera"
    assert api_as("cpo").post("/api/v1/customers/", json={"name": "X"}).status_code == 403


def test_balance_of_is_none_without_a_wallet(session):
    customer = Customer(name="No Wallet")
    session.add(customer)
    session.commit()
    assert balance_of(session, customer.id) is None
    assert session.scalar(select(func.count()).select_from(Wallet)) == 0
    assert session.scalar(select(func.count()).select_from(CustomerPhone)) == 0


def test_a_customer_saved_by_another_module_is_found_by_any_form_of_its_number(api_as, session):
    session.add(Customer(name="Lead From Tata", phone="+94781112223"))  # as an installations lead would
    session.commit()
    assert find_by_phone(session, "078 111 2223").name == "Lead From Tata"
    response = api_as("agent").get("/api/v1/customers/lookup?phone=0094781112223")
    assert [c["name"] for c in response.json["result"]] == ["Lead From Tata"]
    duplicate = api_as("agent").post("/api/v1/customers/", json={"name": "Again", "phone": "0781112223"})
    assert duplicate.status_code == 409 and "Lead From Tata" in duplicate.json["message"]
