"""Vercel AI SDK tool results in a model call's history become the text the SDK sends the model
(as ``@ai-sdk/openai`` does), so they match what trajotel's own instrumentation of that request
records. The recorded run itself is covered in test_dialects_frameworks.py."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.normalize.dialect_samples import contents, normalize_attributes


def _tool_response(part: dict[str, Any]) -> Any:
    history = [
        {"role": "user", "content": [{"type": "text", "text": "21 + 21?"}]},
        {
            "role": "tool",
            "content": [{"type": "tool-result", "toolCallId": "call_1", "toolName": "add", **part}],
        },
    ]
    row, batch = normalize_attributes(
        {"ai.operationId": "ai.generateText.doGenerate", "ai.prompt.messages": json.dumps(history)}
    )
    assert row["Dialect"] == "vercel_ai"
    tool_message = contents(batch, row["InputMessageHashes"])[1]
    assert tool_message["role"] == "tool"
    ((response_part),) = tool_message["parts"]
    assert (response_part["type"], response_part["id"]) == ("tool_call_response", "call_1")
    return response_part["response"]


@pytest.mark.parametrize(
    ("part", "sent"),
    [
        ({"output": {"type": "text", "value": "sunny, 22 C"}}, "sunny, 22 C"),
        ({"output": {"type": "error-text", "value": "no such city"}}, "no such city"),
        ({"output": {"type": "json", "value": 42}}, "42"),
        ({"output": {"type": "json", "value": {"sky": "sunny", "°C": 22}}}, '{"sky":"sunny","°C":22}'),
        ({"output": {"type": "execution-denied"}}, "Tool execution denied."),
        ({"output": {"type": "execution-denied", "reason": "not allowed"}}, "not allowed"),
        ({"result": "sunny"}, '"sunny"'),  # AI SDK 4: the result, always as JSON
    ],
)
def test_tool_results_are_the_text_sent_to_the_model(part: dict[str, Any], sent: str) -> None:
    assert _tool_response(part) == sent
