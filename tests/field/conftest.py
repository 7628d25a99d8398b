"""Field operations fixtures: registry chargers, customers with a tag and money, the real ingest and fleet."""
from __future__ import annotations

from decimal import Decimal

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.models.base import utcnow
from app.models.chargers import Charger, Connector
from app.models.customers import TOPUP
from app.services.customers import create_customer, ensure_wallet
from app.services.customers_wallet import post_entry
from tests.chargers.conftest import fleet, ingest, wait_for  # noqa: F401  (fixtures shared with the Chargers tests)


def user_id(session, username: str) -> int:
    from flask_appbuilder.security.sqla.models import User

    return session.scalar(select(User.id).where(User.username == username))


@pytest.fixture
def make_charger(session):
    """make_charger("CP-1", type="L3", site="Colombo", online=True): a registry charger; online ones get
    two Available connectors, as a charger that booted would have."""

    def make(cid, type="L2", site=None, online=False):
        charger = Charger(cid=cid, name=f"Charger {cid}", type=type, site=site, heartbeat_interval=60)
        session.add(charger)
        session.flush()
        if online:
            charger.offline = False
            charger.last_seen = utcnow()
            charger.offline_after = utcnow() + timedelta(hours=1)  # the API refuses commands to Offline chargers
            for n in (0, 1, 2):
                session.add(Connector(charger_id=charger.id, connector_id=n, status="Available", error_code="NoError",
                                      updated_at=utcnow()))
        session.commit()
        return charger

    return make


@pytest.fixture
def make_customer(session):
    """make_customer(balance="1000.00", tag="RFID-1"): a customer with one RFID tag and that much money."""

    def make(name="Nimal Silva", phone="+94771234567", tag="RFID-1001", balance="1000.00"):
        customer = create_customer(session, {"name": name, "phone": phone, "tags": [tag] if tag else []})
        wallet = ensure_wallet(session, customer.id)
        if Decimal(balance) > 0:
            post_entry(session, wallet, TOPUP, Decimal(balance), user_id=None, reason="opening balance",
                       source_type="test", source_ref=f"opening:{customer.id}")
        session.commit()
        return customer

    return make


@pytest.fixture
def tariff_100(app):
    """100.00 per kWh: an amount of 50.00 is 500 Wh."""
    old = app.config["FORCE_CHARGE_TARIFF_PER_KWH"]
    app.config["FORCE_CHARGE_TARIFF_PER_KWH"] = "100.00"
    yield Decimal("100.00")
    app.config["FORCE_CHARGE_TARIFF_PER_KWH"] = old
