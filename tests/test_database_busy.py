"""SQLite under load: a write that cannot get the database's lock in time answers 503 with Retry-After,
on the API and on the screens, never a 500; once the lock is free the same write goes through."""
from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from app.models.support import Call
from tests.conftest import csrf_token


@pytest.fixture
def short_lock_wait(app):
    """Writers give up after 200 ms instead of 15 s (new connections take the setting)."""
    from app.extensions import db

    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("the write lock that times out is SQLite's")
    saved = app.config["SQLITE_BUSY_TIMEOUT_MS"]
    db.session.remove()
    app.config["SQLITE_BUSY_TIMEOUT_MS"] = 200
    db.engine.dispose()
    yield make_url(app.config["SQLALCHEMY_DATABASE_URI"]).database
    db.session.remove()
    app.config["SQLITE_BUSY_TIMEOUT_MS"] = saved
    db.engine.dispose()


def test_a_write_that_cannot_get_the_lock_answers_503_with_retry_after(session, api_as, web_as, short_lock_wait):
    api = api_as("agent")
    browser = web_as("agent")
    token = csrf_token(browser.get("/support/calls/new").get_data(as_text=True))
    call = {"caller_phone": "0771234567", "category": "Payment Issues", "summary": "Top-up not credited"}

    other_writer = sqlite3.connect(short_lock_wait, isolation_level=None)
    other_writer.execute("BEGIN IMMEDIATE")  # holds the write lock, as a long batch under load would
    try:
        refused = api.post("/api/v1/calls/", json=call)
        assert refused.status_code == 503, refused.get_data(as_text=True)
        assert refused.headers["Retry-After"].isdigit() and "try again" in refused.json["message"]
        page = browser.post("/support/calls/new", data={**call, "csrf_token": token})
        assert page.status_code == 503 and page.headers["Retry-After"].isdigit()
        assert "try again" in page.get_data(as_text=True)
    finally:
        other_writer.execute("ROLLBACK")
        other_writer.close()

    session.rollback()
    assert session.scalar(select(func.count()).select_from(Call)) == 0  # nothing half-saved
    assert api.post("/api/v1/calls/", json=call).status_code == 201  # the retry goes through
