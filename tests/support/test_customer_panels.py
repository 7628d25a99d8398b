"""The customer page shows the customer's calls and tickets (Support's panels on Contacts' page)."""
from __future__ import annotations


def test_customer_page_lists_calls_and_the_escalated_ticket(api_as, web_as, customer):
    api = api_as("agent")
    call = api.post("/api/v1/calls/", json={"caller_phone": "077 123 4567", "category": "Charger Faults",
                                            "summary": "Connector 2 stuck at Preparing"})
    assert call.status_code == 201, call.json
    ticket = api.post(f"/api/v1/calls/{call.json['id']}/escalate")
    assert ticket.status_code == 201

    page = web_as("agent").get(f"/customer/{customer.id}").get_data(as_text=True)
    assert "Calls" in page and f'/support/calls/{call.json["id"]}' in page and "Connector 2 stuck" in page
    assert "Tickets" in page and f'/support/tickets/{ticket.json["id"]}' in page
