"""Every field screen and API against every role, as PERMISSION_MATRIX declares."""
from __future__ import annotations

import pytest

from app.security import ADMIN, PERMISSION_MATRIX, ROLES
from tests.test_security_matrix import USER_FOR_ROLE

SCREENS = {"/field/issues/": "ChargerIssue", "/field/maintenance/": "MaintenanceTask",
           "/field/maintenance/calendar/": "MaintenanceTask", "/field/force-charge/": "ForceCharge",
           "/field/broadcast/": "Broadcast"}
APIS = {"/api/v1/issues/": "ChargerIssue", "/api/v1/maintenance/": "MaintenanceTask"}


def _allowed(role, resource):
    return role == ADMIN or resource in PERMISSION_MATRIX and role in PERMISSION_MATRIX[resource]


@pytest.mark.parametrize("role", ROLES)
def test_field_screens_and_apis_allow_and_refuse_as_declared(web_as, api_as, role):
    browser, api = web_as(USER_FOR_ROLE[role]), api_as(USER_FOR_ROLE[role])
    wrong = []
    for url, resource in SCREENS.items():
        if (browser.get(url).status_code == 200) != _allowed(role, resource):
            wrong.append(url)
    for url, resource in APIS.items():
        if (api.get(url).status_code == 200) != _allowed(role, resource):
            wrong.append(url)
        refused = api.post(url, json={}).status_code == 403
        if refused == _allowed(role, resource):
            wrong.append(f"POST {url}")
    refused = api.post("/api/v1/chargers/NONE/force-charge", json={}).status_code == 403
    if refused == _allowed(role, "ForceCharge"):
        wrong.append("POST force-charge")
    assert browser.get("/field/feed/").status_code == 200 and api.get("/api/v1/notifications/").status_code == 200
    assert wrong == []
