"""The customer page gathers every module's panel: sessions (Chargers), messages (Messaging)."""
from __future__ import annotations

from datetime import datetime

from app.models.chargers import Charger, ChargingSession
from app.models.customers import Customer, CustomerTag
from app.models.messaging import Message


def test_customer_page_shows_charging_sessions_by_rfid_tag_and_whatsapp_history(session, web_as):
    customer = Customer(name="Kamala Ranasinghe", phone="+94712345678")
    session.add(customer)
    session.flush()
    session.add(CustomerTag(customer_id=customer.id, tag="RFID-77AB"))
    charger = Charger(cid="CMB-L3-07", name="Colombo City Centre 7", type="L3")
    session.add(charger)
    session.flush()
    session.add_all([
        ChargingSession(charger_id=charger.id, transaction_id=901, connector_id=2, id_tag="RFID-77AB", energy_kwh=23.456,
                        status="Completed", started_at=datetime(2026, 11, 20, 8, 15), stopped_at=datetime(2026, 11, 20, 9, 2)),
        ChargingSession(charger_id=charger.id, transaction_id=902, connector_id=1, id_tag="SOMEONE-ELSE", energy_kwh=5.0,
                        status="Completed", started_at=datetime(2026, 11, 20, 10, 0)),
        Message(channel="whatsapp", direction="inbound", from_addr="+94712345678", to_addr="+14155238886", customer_id=customer.id,
                body="Is the DC charger at Kandy working today?", status="received"),
    ])
    session.commit()

    page = web_as("agent").get(f"/customer/{customer.id}").get_data(as_text=True)
    assert "Charging sessions" in page and "CMB-L3-07" in page and "23.46" in page
    assert "5.00" not in page  # another customer's session
    assert "Messages" in page and "Is the DC charger at Kandy working today?" in page
