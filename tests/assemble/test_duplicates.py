"""Several instrumentations recording one model call -> one turn, whatever the arrival order."""

from __future__ import annotations

import random
from typing import Any

from opentelemetry.trace import SpanKind, Tracer, set_span_in_context

from trajotel.assemble.assembler import assemble_spans
from trajotel.assemble.model import Trajectory

from tests.assemble.span_rows import messages, recording, to_rows

USER = {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]}
CALL = {
    "role": "assistant",
    "parts": [{"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}],
    "finish_reason": "tool_call",
}
ANSWER = {"role": "assistant", "parts": [{"type": "text", "content": "Sunny."}], "finish_reason": "stop"}
RESULT = {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "sunny"}]}
MS = 1_000_000


def _span(tracer: Tracer, name: str, parent: Any, start: int, end: int, **attributes: Any) -> Any:
    context = set_span_in_context(parent) if parent is not None else None
    span = tracer.start_span(
        name, context=context, kind=SpanKind.CLIENT, start_time=start, attributes=attributes
    )
    span.end(end_time=end)
    return span


def _agent(tracer: Tracer, start: int = 0, end: int = 100 * MS) -> Any:
    span = tracer.start_span(
        "invoke_agent a", start_time=start, attributes={"gen_ai.operation.name": "invoke_agent"}
    )
    span.end(end_time=end)
    return span


def _traceloop_chat(tracer: Tracer, parent: Any, start: int, end: int, **extra: Any) -> Any:
    """opentelemetry-instrumentation-openai 0.62 (OpenLLMetry), streamed without usage."""
    return _span(
        tracer,
        "openai.chat",
        parent,
        start,
        end,
        **{
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.is_streaming": True,
            "gen_ai.openai.api_base": "http://127.0.0.1:8765/v1/",
            "gen_ai.input.messages": messages([USER]),
            "gen_ai.output.messages": messages([CALL]),
            **extra,
        },
    )


def _contrib_chat(tracer: Tracer, parent: Any, start: int, end: int, response_id: str) -> Any:
    """opentelemetry-instrumentation-openai-v2 2.4b0, default mode: usage, no content."""
    return _span(
        tracer,
        "chat gpt-4o-mini",
        parent,
        start,
        end,
        **{
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.provider.name": "openai",
            "gen_ai.response.finish_reasons": ["tool_calls"],
            "gen_ai.response.model": "gpt-4o-mini",
            "gen_ai.response.id": response_id,
            "gen_ai.usage.input_tokens": 106,
            "gen_ai.usage.output_tokens": 48,
            "openai.response.system_fingerprint": "fp_fake",
        },
    )


def _anthropic(tracer: Tracer, name: str, parent: Any, start: int, end: int, **extra: Any) -> Any:
    return _span(
        tracer,
        name,
        parent,
        start,
        end,
        **{
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.response.model": "claude-sonnet-4-5",
            "gen_ai.input.messages": messages([USER]),
            "gen_ai.output.messages": messages([CALL]),
            **extra,
        },
    )


def _assembled(spans: list[Any], seed: int = 0) -> Trajectory:
    rows, contents = to_rows(spans)
    rng = random.Random(seed)
    shuffled = rows + rng.sample(rows, k=len(rows) // 2)  # re-sent spans, any order
    rng.shuffle(shuffled)
    trajectory = assemble_spans(shuffled, contents, complete=True)
    assert trajectory is not None
    return trajectory


def _same_for_every_order(spans: list[Any]) -> Trajectory:
    first = _assembled(spans)
    for seed in range(1, 12):
        assert _assembled(spans, seed) == first
    return first


def test_nested_spans_through_a_plain_http_span_are_one_turn() -> None:
    with recording() as (tracer, spans):
        root = _agent(tracer)
        outer = _traceloop_chat(tracer, root, 10 * MS, 40 * MS)
        http = _span(tracer, "POST", outer, 11 * MS, 38 * MS, **{"http.request.method": "POST"})
        _contrib_chat(tracer, http, 12 * MS, 37 * MS, response_id="chatcmpl-1")
    trajectory = _same_for_every_order(spans)
    (turn,) = trajectory.turns
    # The span with content is kept; usage, response id and finish reasons come from the other.
    assert turn.span_id == format(outer.context.span_id, "016x")
    assert [m.to_semconv() for m in turn.input_messages] == [USER]
    assert [c.name for c in turn.tool_calls] == ["get_weather"]
    assert (turn.usage.input_tokens, turn.usage.output_tokens) == (106, 48)
    assert (turn.response_id, turn.response_model, turn.finish_reasons) == (
        "chatcmpl-1",
        "gpt-4o-mini",
        ["tool_calls"],
    )
    assert trajectory.usage.input_tokens == 106
    assert trajectory.span_count == 4


def test_the_span_with_content_is_kept_when_it_is_the_inner_one() -> None:
    with recording() as (tracer, spans):
        root = _agent(tracer)
        outer = _contrib_chat(tracer, root, 10 * MS, 40 * MS, response_id="chatcmpl-2")
        inner = _traceloop_chat(tracer, outer, 11 * MS, 39 * MS)
    (turn,) = _same_for_every_order(spans).turns
    assert turn.span_id == format(inner.context.span_id, "016x")
    assert (turn.usage.input_tokens, turn.response_id) == (106, "chatcmpl-2")


def test_sibling_spans_with_one_response_id_are_one_turn() -> None:
    """OpenLLMetry's anthropic span and the anthropic SDK's built-in span, side by side."""
    with recording() as (tracer, spans):
        root = _agent(tracer)
        _anthropic(
            tracer,
            "anthropic.chat",
            root,
            10 * MS,
            40 * MS,
            **{
                "gen_ai.response.id": "msg_01",
                "gen_ai.usage.input_tokens": 50,
                "gen_ai.usage.output_tokens": 9,
            },
        )
        sdk = _anthropic(
            tracer,
            "anthropic.messages.create",
            root,
            11 * MS,
            39 * MS,
            **{
                "gen_ai.response.id": "msg_01",
                "gen_ai.usage.cache_write.input_tokens": 7,
                "http.request.method": "POST",
                "url.full": "http://127.0.0.1/v1/messages",
                "http.response.status_code": 200,
            },
        )
        _anthropic(tracer, "anthropic.chat", root, 50 * MS, 60 * MS, **{"gen_ai.response.id": "msg_02"})
    trajectory = _same_for_every_order(spans)
    first, second = trajectory.turns
    # Both have content: the one with more attributes is kept, the other fills its usage.
    assert first.span_id == format(sdk.context.span_id, "016x")
    assert (first.usage.input_tokens, first.usage.output_tokens, first.usage.cache_write_input_tokens) == (
        50,
        9,
        7,
    )
    assert second.response_id == "msg_02"


def test_colliding_response_ids_of_calls_apart_in_time_stay_two_turns() -> None:
    """Some OpenAI-compatible servers (Ollama) mint short ids that repeat."""
    with recording() as (tracer, spans):
        root = _agent(tracer)
        _traceloop_chat(tracer, root, 10 * MS, 20 * MS, **{"gen_ai.response.id": "chatcmpl-7"})
        _traceloop_chat(
            tracer,
            root,
            30 * MS,
            40 * MS,
            **{
                "gen_ai.response.id": "chatcmpl-7",
                "gen_ai.input.messages": messages([USER, CALL, RESULT]),
                "gen_ai.output.messages": messages([ANSWER]),
            },
        )
    trajectory = _same_for_every_order(spans)
    assert len(trajectory.turns) == 2
    assert trajectory.turns[0].tool_calls[0].result == "sunny"  # inferred from the next input


def test_a_call_made_inside_a_tool_under_a_call_is_a_turn_of_its_own() -> None:
    """A tool that runs while the outer call's span is open (and calls a model itself)."""
    with recording() as (tracer, spans):
        root = _agent(tracer)
        outer = _traceloop_chat(tracer, root, 10 * MS, 90 * MS)
        tool = _span(
            tracer,
            "execute_tool summarize",
            outer,
            20 * MS,
            80 * MS,
            **{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "summarize"},
        )
        _contrib_chat(tracer, tool, 30 * MS, 70 * MS, response_id="chatcmpl-inner")
    assert len(_same_for_every_order(spans).turns) == 2
