"""Thin wrapper around the `anthropic` SDK: a client built from the app config at call time."""
from __future__ import annotations

from typing import Any, Optional

import anthropic
from flask import current_app


def make_client() -> Optional[anthropic.Anthropic]:
    """The configured client, or None when no API key is set (the caller falls back)."""
    config = current_app.config
    api_key = config.get("ANTHROPIC_API_KEY")
    if not api_key:
        return None
    return anthropic.Anthropic(
        api_key=api_key,
        base_url=config.get("ANTHROPIC_BASE_URL") or None,
        timeout=config["SUPPORT_CLAUDE_TIMEOUT_S"],
        max_retries=config["SUPPORT_CLAUDE_MAX_RETRIES"],
    )


def call_tool(
    client: anthropic.Anthropic, *, model: str, system: str, text: str, tool: dict, max_tokens: int
) -> dict[str, Any]:
    """Ask the model to answer through exactly one tool; returns that tool call's input."""
    message = client.messages.create(
        model=model,
        max_tokens=max_tokens,
        system=system,
        messages=[{"role": "user", "content": text}],
        tools=[tool],
        tool_choice={"type": "tool", "name": tool["name"]},
    )
    for block in message.content:
        if getattr(block, "type", None) == "tool_use" and block.name == tool["name"]:
            return dict(block.input)
    raise ValueError("the model answered without calling the tool")
