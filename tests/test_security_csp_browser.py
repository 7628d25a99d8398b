"""Defect 9: the main pages run under the CSP (scripts from 'self', Flask-AppBuilder's inline scripts by
nonce) without a single violation: every menu page an Admin can open, and the detail pages behind them."""
from __future__ import annotations

from app.models.chargers import Charger
from app.models.customers import Customer
from app.models.messaging import Conversation
from tests.conftest import browser_login

NOT_OURS_YET: set = set()  # every page of ours passes the policy
DETAIL_PAGES = ["/chargers/network/CSP-1", "/support/calls/new", "/installations/board", "/swagger/v1"]


def _watch_csp(page) -> list[str]:
    seen: list[str] = []
    page.on("console", lambda msg: seen.append(f"{page.url}: {msg.text}")
            if "Content Security Policy" in msg.text or "Content-Security-Policy" in msg.text else None)
    page.on("pageerror", lambda error: seen.append(f"{page.url}: {error}"))
    # the browser's own report of each violation, whatever the console says
    page.add_init_script(
        "window.__csp = []; document.addEventListener('securitypolicyviolation',"
        " function (e) { window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline')); });"
    )
    return seen


def _open(page, url, seen):
    page.goto(url, wait_until="load")
    page.wait_for_function("() => document.readyState === 'complete'")
    for violation in page.evaluate("window.__csp || []"):
        seen.append(f"{url}: {violation}")


def test_the_main_pages_report_no_csp_violation(page, session):
    session.add_all([Charger(cid="CSP-1", name="CSP charger", type="L2"), Customer(name="Csp Customer", phone="+94770001122")])
    session.flush()
    customer = session.query(Customer).filter_by(phone="+94770001122").one()
    session.add(Conversation(customer_id=customer.id, phone=customer.phone))
    session.commit()
    conversation = session.query(Conversation).filter_by(customer_id=customer.id).one()
    seen = _watch_csp(page)
    browser_login(page, "admin")
    _open(page, "/", seen)
    menu = page.eval_on_selector_all(
        ".navbar .dropdown-menu a[href], .navbar-nav > li > a[href]",
        "links => links.map(a => a.getAttribute('href')).filter(h => h && h.startsWith('/') && !h.startsWith('/logout'))",
    )
    assert len(menu) > 20, menu
    urls = sorted(set(menu) - NOT_OURS_YET) + DETAIL_PAGES + [f"/messaging/conversations/{conversation.id}", f"/customer/{customer.id}"]
    for url in urls:
        _open(page, url, seen)
    assert seen == []
