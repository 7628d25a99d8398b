"""Field app fixtures: the field tests' chargers and customers, the real ingest and simulated fleet."""
from __future__ import annotations

from tests.field.conftest import make_charger, make_customer, user_id  # noqa: F401  (shared fixtures)
from tests.chargers.conftest import fleet, ingest, wait_for  # noqa: F401
