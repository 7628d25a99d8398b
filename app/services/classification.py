"""Classifying free text from customers (requests, WhatsApp messages).

The contract every module relies on: `classify(text) -> Classification`. The Support desk
module implements the Claude classifier behind it (anthropic SDK, tool use) and routing;
without an API key, or when the API fails, the local rule-based classifier answers.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

CATEGORIES = ("Payment Issues", "Charger Faults", "General Inquiry", "Complaints")
URGENCIES = ("Critical", "High", "Medium", "Low")


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


def classify(text: str) -> Classification:
    """Classify with the configured classifier (the Support desk module plugs Claude in here)."""
    return classify_by_rules(text)
