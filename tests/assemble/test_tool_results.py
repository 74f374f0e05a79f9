"""A tool's result, recorded on its execute_tool span, is stored as the tool message that hands it
to the model (migration 0014): the assembler reads it from there, and from the span's attribute
on spans stored before."""

from __future__ import annotations

import json
from typing import Any

from trajotel.assemble.assembler import assemble_spans
from trajotel.assemble.model import Trajectory

from tests.assemble.span_rows import messages, recording, to_rows

TASK = {"role": "user", "parts": [{"type": "text", "content": "weather in Paris?"}]}
CALL = {
    "role": "assistant",
    "parts": [{"type": "tool_call", "id": "call_1", "name": "weather", "arguments": {"city": "Paris"}}],
}
RESULT = {"city": "Paris", "sky": "sunny"}
TOOL_MESSAGE = {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": RESULT}]}
ANSWER = {"role": "assistant", "parts": [{"type": "text", "content": "Sunny."}], "finish_reason": "stop"}


def _chat(tracer: Any, start: int, inputs: list[dict[str, Any]], output: dict[str, Any]) -> None:
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "m",
        "gen_ai.input.messages": messages(inputs),
        "gen_ai.output.messages": messages([output]),
    }
    tracer.start_span("chat m", attributes=attributes, start_time=start).end(end_time=start + 10)


def _loop() -> tuple[list[dict[str, Any]], dict[str, str]]:
    with recording() as (tracer, spans):
        _chat(tracer, 100, [TASK], {**CALL, "finish_reason": "tool_call"})
        tool = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "weather",
            "gen_ai.tool.call.id": "call_1",
            "gen_ai.tool.call.result": json.dumps(RESULT),
        }
        tracer.start_span("execute_tool weather", attributes=tool, start_time=200).end(end_time=210)
        _chat(tracer, 300, [TASK, CALL, TOOL_MESSAGE], ANSWER)
    return to_rows(spans)


def _calls(trajectory: Trajectory | None) -> list[tuple[Any, str | None]]:
    assert trajectory is not None
    return [(c.result, c.result_source) for turn in trajectory.turns for c in turn.tool_calls]


def test_the_result_is_the_tool_message_of_the_next_input() -> None:
    rows, contents = _loop()
    (tool,) = [r for r in rows if r["Operation"] == "execute_tool"]
    second = next(r for r in rows if r["Operation"] == "chat" and len(r["InputMessageHashes"]) == 3)
    assert tool["ToolCallResultHash"] == second["InputMessageHashes"][2]  # one body for both
    assert "gen_ai.tool.call.result" not in tool["SpanAttributes"]
    assert _calls(assemble_spans(rows, contents, complete=True)) == [(RESULT, "execute_tool_span")]


def test_a_span_stored_before_keeps_its_result_in_the_attribute() -> None:
    rows, contents = _loop()
    for row in rows:
        if row["Operation"] == "execute_tool":
            row["SpanAttributes"] = {**row["SpanAttributes"], "gen_ai.tool.call.result": json.dumps(RESULT)}
            row["ToolCallResultHash"] = ""
    assert _calls(assemble_spans(rows, contents, complete=True)) == [(RESULT, "execute_tool_span")]
