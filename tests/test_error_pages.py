"""Forbidden and Not found: pages in the app's layout that say what to do next; the API stays JSON."""
from __future__ import annotations


def test_forbidden_is_a_page_with_a_way_forward(web_as):
    response = web_as("agent").get("/fieldteamview/list/")
    assert response.status_code == 403
    html = response.get_data(as_text=True)
    assert 'id="error-page"' in html and "navbar" in html  # the app's own layout, its menu included
    assert "You do not have access to this page" in html and "ask a manager" in html
    assert "Go to your home page" in html
    assert "<h1>Forbidden</h1>" not in html


def test_not_found_is_a_page_with_a_way_forward(web_as):
    for url in ("/no/such/page", "/customer/999999"):
        response = web_as("agent").get(url)
        assert response.status_code == 404
        html = response.get_data(as_text=True)
        assert 'id="error-page"' in html and "This page or record does not exist" in html
        assert "Search for it from the menu" in html and "<h1>Not Found</h1>" not in html


def test_signed_out_visitors_are_offered_the_sign_in(client):
    html = client.get("/no/such/page").get_data(as_text=True)
    assert "Sign in" in html and 'id="error-page"' in html


def test_the_api_still_answers_json(api_as):
    response = api_as("agent").get("/api/v1/no-such-endpoint/")
    assert response.status_code == 404
    assert response.is_json and "message" in response.json
