"""Bad input on the REST API is a 4xx `{"message"}`, never a 5xx (the general guards of app/api/guards.py)."""
from __future__ import annotations

import pytest

HUGE = "238779843177457651810304"


@pytest.mark.parametrize("url", [
    f"/api/v1/customers/{HUGE}", f"/api/v1/field_teams/{HUGE}", f"/api/v1/jobs/{HUGE}/proposals",
    f"/api/v1/calls/{HUGE}", "/api/v1/customers/99999999999",
])
def test_huge_ids_in_the_path_are_404(api_as, url):
    response = api_as("admin").get(url)
    assert response.status_code == 404 and response.is_json, (response.status_code, response.data[:200])


def test_huge_ids_in_the_path_of_a_delete_are_404(api_as):
    response = api_as("admin").delete(f"/api/v1/departments/{HUGE}")
    assert response.status_code == 404


@pytest.mark.parametrize("q", ["(((", "(page:99999999999999999999)", "(page:-1)", "(page_size:'x')",
                               "(filters:!((col:name,opr:ct,value:(a:1))))", "!(1,2)"])
@pytest.mark.parametrize("resource", ["customers", "field_teams", "calls", "jobs", "messages"])
def test_bad_q_on_every_list_is_400(api_as, resource, q):
    response = api_as("admin").get(f"/api/v1/{resource}/", query_string={"q": q})
    assert response.status_code == 400, (resource, q, response.status_code)
    assert response.json["message"]


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "42", "{not json", '{"name": "x\\u0000y"}',
                                  '{"name": "\\ud800"}', '{"customer_id": 1e999}', '{"customer_id": NaN}',
                                  '{"customer_id": 99999999999999999999999}'])
@pytest.mark.parametrize("url", ["/api/v1/field_teams/", "/api/v1/alerts/", "/api/v1/wallet/charges",
                                 "/api/v1/customers/", "/api/v1/tickets/"])
def test_bodies_that_are_not_a_storable_json_object_are_400(api_as, url, body):
    response = api_as("admin").post(url, data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, (url, body, response.status_code, response.data[:200])
    assert response.json["message"]


@pytest.mark.parametrize("url", ["/api/v1/security/login", "/api/v1/security/roles/", "/api/v1/security/users/"])
@pytest.mark.parametrize("body,ctype", [("username=x", "application/x-www-form-urlencoded"), ("", None), ("[]", "application/json")])
def test_fab_security_api_on_non_json_bodies_is_400(client, api_as, url, body, ctype):
    headers = {"Content-Type": ctype} if ctype else {}
    response = api_as("admin").post(url, data=body, headers=headers)
    assert response.status_code == 400, (url, body, response.status_code, response.data[:200])


def test_oversized_bodies_are_413_json(app, api_as):
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = api_as("admin").post("/api/v1/alerts/", data=b"x" * (limit + 1), headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and response.json["message"]


@pytest.mark.parametrize("url,body", [
    ("/api/v1/security/roles/", {"name": ""}), ("/api/v1/security/resources/", {"name": ""}),
    ("/api/v1/security/permissions-resources/", {"permission_id": {"a": 1}, "view_menu_id": [1]}),
    ("/api/v1/departments/", {"name": ""}), ("/api/v1/field_teams/", {"name": "Team Kandy"}),
])
def test_the_database_refusing_an_add_is_a_4xx(api_as, url, body):
    api = api_as("admin")
    first = api.post(url, json=body)
    second = api.post(url, json=body)
    assert 400 <= first.status_code < 500 or first.status_code == 201, (url, first.status_code)
    assert 400 <= second.status_code < 500, (url, second.status_code, second.data[:200])
