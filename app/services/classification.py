"""Classifying free text from customers (requests, WhatsApp messages).

The contract every module relies on: `classify(text) -> Classification`. With ANTHROPIC_API_KEY
set, Claude answers through the `anthropic` SDK (model and prompt in config, structured output via
tool use, SDK timeouts and retries); without a key, or when the API fails in any way, the local
rule-based classifier answers. `Classification.classifier` records which one did.
"""
from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass

from flask import current_app, has_app_context
from app.integrations.anthropic_client import call_tool, make_client

CATEGORIES = ("Payment Issues", "Charger Faults", "General Inquiry", "Complaints")
URGENCIES = ("Critical", "High", "Medium", "Low")
DEPARTMENT_NAMES = ("Hotline", "Service", "Maintenance", "Technical")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Classification:
    category: str  # one of CATEGORIES
    urgency: str  # one of URGENCIES
    department: str  # Hotline | Service | Maintenance | Technical
    summary: str  # one line
    confidence: float  # 0..1
    classifier: str  # "claude:<model>" or "rules"

    def as_dict(self) -> dict:
        return asdict(self)


_RULES = [
    ("Charger Faults", "Technical", r"\b(fault|faulted|error|not (working|charging)|broken|offline|won'?t start|stuck|reset)\b"),
    ("Payment Issues", "Hotline", r"\b(payment|paid|charged twice|refund|wallet|balance|top.?up|card|deducted|invoice)\b"),
    ("Complaints", "Service", r"\b(complain|complaint|rude|terrible|worst|unacceptable|angry|disappointed)\b"),
]
_URGENT = r"\b(urgent|emergency|immediately|stranded|fire|smoke|spark|danger|asap)\b"


def classify_by_rules(text: str) -> Classification:
    lowered = (text or "").lower()
    for category, department, pattern in _RULES:
        if re.search(pattern, lowered):
            break
    else:
        category, department = "General Inquiry", "Hotline"
    urgent = re.search(_URGENT, lowered) is not None
    urgency = "Critical" if urgent and category == "Charger Faults" else "High" if urgent else "Medium"
    if category == "General Inquiry" and not urgent:
        urgency = "Low"
    summary = re.sub(r"\s+", " ", (text or "").strip())[:120] or "(empty message)"
    return Classification(category, urgency, department, summary, 0.5, "rules")


CLASSIFY_TOOL = {
    "name": "classify_request",
    "description": "Record the triage of one customer message.",
    "input_schema": {
        "type": "object",
        "properties": {
            "category": {"type": "string", "enum": list(CATEGORIES)},
            "urgency": {"type": "string", "enum": list(URGENCIES)},
            "department": {"type": "string", "enum": list(DEPARTMENT_NAMES)},
            "summary": {"type": "string", "description": "one short line"},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        },
        "required": ["category", "urgency", "department", "summary", "confidence"],
    },
}


def classify_by_claude(text: str) -> Classification:
    """Claude through the SDK; raises on a missing key, any API failure or an answer off the schema."""
    client = make_client()
    if client is None:
        raise RuntimeError("ANTHROPIC_API_KEY is not set")
    config = current_app.config
    model = config["SUPPORT_CLAUDE_MODEL"]
    answer = call_tool(
        client,
        model=model,
        system=config["SUPPORT_CLASSIFIER_PROMPT"],
        text=text or "(empty message)",
        tool=CLASSIFY_TOOL,
        max_tokens=config["SUPPORT_CLAUDE_MAX_TOKENS"],
    )
    category, urgency, department = answer.get("category"), answer.get("urgency"), answer.get("department")
    if category not in CATEGORIES or urgency not in URGENCIES or department not in DEPARTMENT_NAMES:
        raise ValueError(f"answer off the schema: {answer!r}")
    summary = re.sub(r"\s+", " ", str(answer.get("summary") or "")).strip()[:300] or "(no summary)"
    confidence = min(1.0, max(0.0, float(answer.get("confidence", 0.0))))
    return Classification(category, urgency, department, summary, confidence, f"claude:{model}")


def classify(text: str) -> Classification:
    """Classify with Claude when a key is configured; the rule-based classifier on no key or any failure."""
    if has_app_context() and current_app.config.get("ANTHROPIC_API_KEY"):
        try:
            return classify_by_claude(text)
        except Exception as exc:  # any API/network/schema failure: the desk must still get an answer
            log.warning("Claude classification failed, falling back to rules: %s", exc)
    return classify_by_rules(text)
