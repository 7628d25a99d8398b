"""Support fixtures: the app pointed at a local server that plays the Anthropic Messages API."""
from __future__ import annotations

import pytest


def tool_use_answer(**fields) -> dict:
    """A Messages API response whose only content is a classify_request tool call."""
    answer = {"category": "Charger Faults", "urgency": "Critical", "department": "Technical",
              "summary": "Charger CP-7 stuck, driver stranded", "confidence": 0.93}
    answer.update(fields)
    return {
        "id": "msg_test_1", "type": "message", "role": "assistant", "model": "claude-test",
        "content": [{"type": "tool_use", "id": "toolu_1", "name": "classify_request", "input": answer}],
        "stop_reason": "tool_use", "stop_sequence": None,
        "usage": {"input_tokens": 120, "output_tokens": 40},
    }


@pytest.fixture
def claude(app, httpserver):
    """Configure the app to use Claude at the local httpserver; restored afterwards."""
    saved = {k: app.config.get(k) for k in (
        "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "SUPPORT_CLAUDE_MODEL", "SUPPORT_CLAUDE_TIMEOUT_S", "SUPPORT_CLAUDE_MAX_RETRIES")}
    app.config.update(
        ANTHROPIC_API_KEY="sk-ant-test", ANTHROPIC_BASE_URL=httpserver.url_for("/").rstrip("/"),
        SUPPORT_CLAUDE_MODEL="claude-test", SUPPORT_CLAUDE_TIMEOUT_S=1.0, SUPPORT_CLAUDE_MAX_RETRIES=1,
    )
    yield httpserver
    app.config.update(saved)


@pytest.fixture
def customer(session):
    from app.models.customers import Customer

    c = Customer(name="Sunil Perera", phone="+94771234567", email="sunil@example.com")
    session.add(c)
    session.commit()
    return c


def user_id(session, username: str) -> int:
    from flask_appbuilder.security.sqla.models import User
    from sqlalchemy import select

    return session.scalar(select(User.id).where(User.username == username))


def wait_classified(session, request_id: int, timeout: float = 30) -> None:
    """Wait for the queued classification task (real worker) so no task outlives the test."""
    import time

    from app.models.support import CustomerRequest

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        session.rollback()
        request = session.get(CustomerRequest, request_id, populate_existing=True)
        if request is None or request.classified_at is not None:
            return
        time.sleep(0.1)
    raise AssertionError(f"request {request_id} was not classified within {timeout} s")
