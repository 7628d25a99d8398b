"""Every role lands on a page with its own work."""
from __future__ import annotations

import pytest

from app.security import ROLES
from tests.test_security_matrix import USER_FOR_ROLE

PANEL_OF_ROLE = {
    "CPO": ["home-network", "home-issues"], "Installer": ["home-my-work"], "Finance": ["home-finance"],
    "Central Ops": ["home-board"], "OEM": ["home-pipeline"], "Field Team": ["home-field-jobs"],
    "Procurement": ["home-procurement"], "OEM Reporting": ["home-reports"], "Dispatcher": ["home-issues"],
    "Manager": ["home-issues"], "Admin": ["home-network", "home-issues"],
}


@pytest.mark.parametrize("role", ROLES)
def test_each_role_lands_on_its_own_work(web_as, role):
    html = web_as(USER_FOR_ROLE[role]).get("/").get_data(as_text=True)
    assert "Welcome" in html
    for panel in PANEL_OF_ROLE.get(role, []):
        assert f'id="{panel}"' in html, f"{role} has no {panel}"
    if role in ("Ops Agent", "Dispatcher", "Manager"):
        assert 'id="support-dashboard"' in html or "dashboard" in html.lower()
    assert 'id="menu-notifications"' in html  # the bell in the menu, with its unread badge
