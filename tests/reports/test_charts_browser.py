"""Every chart view draws with chart.js served from node_modules; nothing leaves 127.0.0.1 (the `page` fixture)."""
from __future__ import annotations

from decimal import Decimal

import pytest

from app.views.charts import CHART_VIEWS
from tests.conftest import browser_login


@pytest.fixture
def some_activity(session):
    """A few rows for the charts to group: calls, a ticket, a charger, customers' payments and top-ups."""
    from app.demo import chargers, customers, field, installations
    from app.services.chargers import snapshot_buckets

    customers.seed(session)
    chargers.seed(session)
    installations.seed(session)
    field.seed(session)  # charger issues and maintenance tasks
    snapshot_buckets(session)  # the history behind the buckets-over-time chart
    from app.models.support import Call, Ticket

    session.add_all([Call(category="Payment Issues", summary="card declined"), Call(category="Charger Faults", summary="no power"),
                     Ticket(title="Refund", priority="High", status="Open")])
    session.commit()


def test_every_chart_view_draws(page, some_activity):
    """One seeded database for every view: the demo seed is the slow part, the pages are quick."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    browser_login(page, "admin")
    not_drawn = []
    for view, _ in CHART_VIEWS:
        page.goto(f"/{view.__name__.lower()}/chart/")  # FAB's default route_base
        try:
            page.wait_for_selector(".chargeops-chart[data-drawn='1'] canvas", timeout=30_000)
        except PlaywrightTimeout:
            not_drawn.append(view.__name__)
            continue
        if page.evaluate("typeof window.Chart") != "function":
            not_drawn.append(f"{view.__name__} (no chart.js)")
    assert not not_drawn, f"chart views that did not draw: {not_drawn}"


def test_the_support_dashboard_draws_its_trend(page, session):
    from app.models.support import Call

    session.add_all([Call(category="Payment Issues", summary="card declined"), Call(category="Charger Faults", summary="no power")])
    session.commit()
    browser_login(page, "manager")
    page.goto("/")
    page.wait_for_selector("#calls-trend[data-drawn='1'] canvas", timeout=30_000)
