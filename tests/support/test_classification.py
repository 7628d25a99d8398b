"""The classifier through the real anthropic SDK against a local Messages API, and its fallback."""
from __future__ import annotations

import json
import time

from werkzeug import Response

from app.services.classification import classify
from app.models.support import CustomerRequest
from tests.support.conftest import tool_use_answer


def test_claude_answers_through_tool_use(app, claude):
    claude.expect_request("/v1/messages", method="POST").respond_with_json(tool_use_answer())
    result = classify("The charger at Kandy is stuck and I am stranded, please help!")
    assert result.category == "Charger Faults" and result.urgency == "Critical"
    assert result.department == "Technical" and result.confidence == 0.93
    assert result.classifier == "claude:claude-test"
    sent = json.loads(claude.log[0][0].get_data())
    assert sent["model"] == "claude-test"
    assert sent["tool_choice"] == {"type": "tool", "name": "classify_request"}
    assert sent["tools"][0]["input_schema"]["properties"]["category"]["enum"][0] == "Payment Issues"
    assert "stranded" in sent["messages"][0]["content"]
    headers = claude.log[0][0].headers
    assert "sk-ant-test" in (headers.get("x-api-key") or headers.get("Authorization", ""))


def test_sdk_retries_a_transient_failure(app, claude):
    claude.expect_ordered_request("/v1/messages", method="POST").respond_with_json({"type": "error"}, status=500)
    claude.expect_ordered_request("/v1/messages", method="POST").respond_with_json(tool_use_answer(urgency="High"))
    result = classify("charger broken")
    assert result.classifier == "claude:claude-test" and result.urgency == "High"
    assert len(claude.log) == 2


def test_server_error_falls_back_to_rules_and_the_request_records_it(app, claude, session):
    claude.expect_request("/v1/messages", method="POST").respond_with_json(
        {"type": "error", "error": {"type": "api_error", "message": "boom"}}, status=500)
    from app.services.support_requests import classify_request

    request = CustomerRequest(channel="web", text="I was charged twice, refund please")  # no background task
    session.add(request)
    session.commit()
    classify_request(session, request.id)
    session.commit()
    assert request.classifier == "rules" and request.category == "Payment Issues"
    assert len(claude.log) == 2  # the first try and the one configured retry


def test_timeout_falls_back_to_rules(app, claude):
    app.config["SUPPORT_CLAUDE_MAX_RETRIES"] = 0

    def slow(_request):
        time.sleep(1.5)
        return Response(json.dumps(tool_use_answer()), content_type="application/json")

    claude.expect_request("/v1/messages", method="POST").respond_with_handler(slow)
    result = classify("the charger shows an error")
    assert result.classifier == "rules" and result.category == "Charger Faults"


def test_answer_off_the_schema_falls_back(app, claude):
    claude.expect_request("/v1/messages", method="POST").respond_with_json(tool_use_answer(category="Weather"))
    assert classify("hello").classifier == "rules"


def test_without_a_key_the_rules_answer(app, httpserver):
    assert not app.config.get("ANTHROPIC_API_KEY")
    result = classify("Where is the nearest charger?")
    assert result.classifier == "rules" and result.category == "General Inquiry" and result.urgency == "Low"
    assert httpserver.log == []
