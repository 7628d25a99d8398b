"""Framing and sniffing protection on every response, in every mode (defect 9, in part)."""
from __future__ import annotations

import pytest

from app import SECURITY_HEADERS

PAGES = ["/login/", "/", "/chargers/network/", "/support/log-call", "/installations/board", "/api/v1/departments/",
         "/health", "/api/v1/no-such-thing/"]


@pytest.mark.parametrize("user", ["manager", "dispatcher"])
def test_every_response_carries_the_security_headers(web_as, user):
    browser = web_as(user)
    for url in PAGES:
        response = browser.get(url)
        for name in ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy"):
            assert response.headers.get(name) == SECURITY_HEADERS[name], (url, name)
    assert "frame-ancestors 'none'" in SECURITY_HEADERS["Content-Security-Policy"]
