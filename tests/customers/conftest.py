"""Fixtures for the Contacts and finance tests: customers with wallets, made through the service."""
from __future__ import annotations

import pytest

from app.services.customers import create_customer


@pytest.fixture
def make_customer(session):
    def make(name="Kamal Perera", phone="+94771234567", **data):
        customer = create_customer(session, {"name": name, "phone": phone, **data})
        session.commit()
        return customer

    return make


@pytest.fixture
def customer(make_customer):
    return make_customer()


@pytest.fixture(autouse=True)
def _empty_receipts_folder(app):
    """Receipt files live in the run's UPLOAD_DIR; each test starts without any (the tables are emptied too)."""
    import shutil
    from pathlib import Path

    shutil.rmtree(Path(app.config["UPLOAD_DIR"]) / "receipts", ignore_errors=True)
    yield
