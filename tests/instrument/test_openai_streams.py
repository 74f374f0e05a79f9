"""Streamed and async chat completions against the real openai SDK and the fake server."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx2
import openai
import pytest
import wrapt
from openai.resources.chat.completions import AsyncCompletions
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from trajotel import semconv as sc
from trajotel.instrument import streams
from trajotel.instrument.openai import OpenAIInstrumentor
from trajotel.testing import FakeLLMServer

T = TypeVar("T")

HELLO = [{"role": "user", "content": "hi"}]
CHAT_ANSWER = "Hello! I am a fake LLM."
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
WITH_USAGE = {"include_usage": True}
USAGE_KEYS = {
    sc.GEN_AI_USAGE_INPUT_TOKENS,
    sc.GEN_AI_USAGE_OUTPUT_TOKENS,
    sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
}


@pytest.fixture(autouse=True)
def no_context_or_double_end_errors(caplog: pytest.LogCaptureFixture):
    # A span context attached across the stream's lifetime shows up as "Failed to detach
    # context"; a span ended twice as the SDK's "Calling end() on an ended span".
    with caplog.at_level(logging.WARNING):
        yield
    messages = [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if "Failed to detach context" in m or "on an ended span" in m]


def only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    spans = exporter.get_finished_spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def outputs(span: ReadableSpan) -> list[dict[str, Any]]:
    return json.loads(span.attributes[sc.GEN_AI_OUTPUT_MESSAGES])


def normalized(chunks: list[Any]) -> list[tuple[type, Any]]:
    """Chunks with the fake's random ids and timestamps masked, to compare two runs."""
    dumped = json.dumps([chunk.model_dump() for chunk in chunks])
    dumped = re.sub(r"chatcmpl-fk[0-9a-f]+", "ID", dumped)
    dumped = re.sub(r"(call_fk\d+x\d+_)[0-9a-f]+", r"\1ID", dumped)
    dumped = re.sub(r'"created": \d+', '"created": 0', dumped)
    return list(zip([type(c) for c in chunks], json.loads(dumped), strict=True))


def run_async(fake_llm: FakeLLMServer, body: Callable[[openai.AsyncOpenAI], Awaitable[T]]) -> T:
    async def main() -> T:
        async with openai.AsyncOpenAI(base_url=fake_llm.base_url, api_key="k", max_retries=0) as c:
            return await body(c)

    return asyncio.run(main())


def assert_ttfc(span: ReadableSpan) -> None:
    ttfc = span.attributes[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]
    assert isinstance(ttfc, float)
    assert 0 <= ttfc <= (span.end_time - span.start_time) / 1e9


# --- what the caller sees -------------------------------------------------------------------


@pytest.mark.parametrize(("model", "tools"), [("fake-chat", None), ("gpt-4o-mini", TOOLS)])
@pytest.mark.parametrize("stream_options", [None, WITH_USAGE])
def test_sync_stream_yields_the_same_chunks(
    client, tracer_provider, span_exporter, model, tools, stream_options, request
):
    extra = {k: v for k, v in {"tools": tools, "stream_options": stream_options}.items() if v}
    plain = list(client.chat.completions.create(model=model, messages=HELLO, stream=True, **extra))
    request.getfixturevalue("instrumented")
    stream = client.chat.completions.create(model=model, messages=HELLO, stream=True, **extra)
    assert isinstance(stream, openai.Stream)
    assert isinstance(stream.response, httpx2.Response)
    assert span_exporter.get_finished_spans() == ()  # still open: nothing read yet
    seen = list(stream)
    assert normalized(seen) == normalized(plain)
    assert all(type(c) is ChatCompletionChunk for c in seen)
    only_span(span_exporter)


@pytest.mark.parametrize("stream_options", [None, WITH_USAGE])
def test_async_stream_yields_the_same_chunks(fake_llm, span_exporter, stream_options, request):
    extra = {"stream_options": stream_options} if stream_options else {}

    async def read(c: openai.AsyncOpenAI) -> list[Any]:
        stream = await c.chat.completions.create(
            model="gpt-4o-mini", messages=HELLO, tools=TOOLS, stream=True, **extra
        )
        assert isinstance(stream, openai.AsyncStream)
        return [chunk async for chunk in stream]

    plain = run_async(fake_llm, read)
    request.getfixturevalue("instrumented")
    assert normalized(run_async(fake_llm, read)) == normalized(plain)
    only_span(span_exporter)


# --- what the span records ------------------------------------------------------------------


def test_text_stream_span(instrumented, client, span_exporter, fake_llm):
    stream = client.chat.completions.create(
        model="fake-chat", messages=HELLO, stream=True, stream_options=WITH_USAGE, temperature=0.5
    )
    chunks = list(stream)
    span = only_span(span_exporter)
    usage = chunks[-1].usage
    assert span.name == "chat fake-chat"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    attributes = span.attributes
    assert attributes[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert attributes[sc.GEN_AI_REQUEST_MODEL] == "fake-chat"
    assert attributes[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.5
    assert attributes[sc.GEN_AI_RESPONSE_ID] == chunks[0].id
    assert attributes[sc.GEN_AI_RESPONSE_MODEL] == "fake-chat"
    assert attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == usage.prompt_tokens
    assert attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == usage.completion_tokens
    assert (
        attributes[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS]
        == usage.completion_tokens_details.reasoning_tokens
    )
    assert json.loads(attributes[sc.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "hi"}]}
    ]
    assert outputs(span) == [
        {"role": "assistant", "parts": [{"type": "text", "content": CHAT_ANSWER}], "finish_reason": "stop"}
    ]
    assert_ttfc(span)


def test_no_usage_without_include_usage(instrumented, client, span_exporter):
    list(client.chat.completions.create(model="fake-chat", messages=HELLO, stream=True))
    span = only_span(span_exporter)
    assert not USAGE_KEYS & set(span.attributes)  # absent, not 0
    assert span.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert_ttfc(span)


def test_tool_call_stream_span(instrumented, client, span_exporter):
    chunks = list(
        client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, tools=TOOLS, stream=True)
    )
    deltas = [call for c in chunks for call in (c.choices[0].delta.tool_calls or [])]
    assert len(deltas) > 2 and deltas[1].id is None  # the fake splits the arguments
    span = only_span(span_exporter)
    assert span.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_calls",)
    call = {"type": "tool_call", "id": deltas[0].id, "name": "get_weather", "arguments": {"city": "Paris"}}
    assert re.fullmatch(r"call_fk0x0_[0-9a-f]{8}", deltas[0].id)
    assert outputs(span) == [{"role": "assistant", "parts": [call], "finish_reason": "tool_call"}]
    assert json.loads(span.attributes[sc.GEN_AI_TOOL_DEFINITIONS])[0]["name"] == "get_weather"


def test_accumulator_joins_deltas_exactly():
    recorded: list[dict[str, Any]] = []
    accumulator = streams.ChatChunkAccumulator(lambda span, completion: recorded.append(completion))

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
        return {
            "id": "c1",
            "model": "m",
            "choices": [{"index": index, "delta": delta, "finish_reason": finish}],
            **extra,
        }

    first = {"index": 0, "id": "call_a", "type": "function", "function": {"name": "f", "arguments": ""}}
    second = {"index": 1, "id": "call_b", "type": "function", "function": {"name": "g", "arguments": '{"x"'}}
    for piece in [
        chunk(1, {"reasoning_content": "think "}),
        chunk(1, {"reasoning_content": "hard"}),
        chunk(1, {"content": "Hi "}),
        chunk(1, {"content": "there"}, "stop"),
        chunk(0, {"tool_calls": [first]}),
        chunk(0, {"tool_calls": [second]}),
        chunk(0, {"tool_calls": [{"index": 0, "function": {"arguments": '{"a": '}}]}),
        chunk(0, {"tool_calls": [{"index": 1, "function": {"arguments": ": 1}"}}]}),
        chunk(0, {"tool_calls": [{"index": 0, "function": {"arguments": "[1, 2]}"}}]}),
        chunk(0, {}, "tool_calls"),
        {"id": "c1", "model": "m", "choices": [], "usage": {"prompt_tokens": 3}},
    ]:
        accumulator.add(piece)
    accumulator.finish(None)  # type: ignore[arg-type]
    [completion] = recorded
    assert completion["usage"] == {"prompt_tokens": 3}
    [choice0, choice1] = completion["choices"]
    assert choice0["finish_reason"] == "tool_calls"
    assert choice0["message"]["content"] is None
    assert choice0["message"]["tool_calls"] == [
        {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": '{"a": [1, 2]}'}},
        {"id": "call_b", "type": "function", "function": {"name": "g", "arguments": '{"x": 1}'}},
    ]
    assert choice1["message"] == {
        "role": "assistant",
        "content": "Hi there",
        "reasoning_content": "think hard",
    }
    assert choice1["finish_reason"] == "stop"


def test_reasoning_stream(instrumented, client, span_exporter):
    list(client.chat.completions.create(model="fake-reasoning", messages=HELLO, stream=True))
    [message] = outputs(only_span(span_exporter))
    assert message["parts"] == [
        {"type": "reasoning", "content": "2 + 2 = 4, so: 4."},
        {"type": "text", "content": "The answer is 4."},
    ]


def test_no_content_mode_streams(instrumented, client, span_exporter, monkeypatch):
    monkeypatch.setenv(sc.ENV_CAPTURE_MESSAGE_CONTENT, "NO_CONTENT")
    list(
        client.chat.completions.create(
            model="fake-chat", messages=HELLO, stream=True, stream_options=WITH_USAGE
        )
    )
    span = only_span(span_exporter)
    assert not set(sc.CONTENT_ATTRIBUTES) & set(span.attributes)
    assert span.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert span.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] > 0


def test_async_stream_span(instrumented, fake_llm, span_exporter):
    async def read(c: openai.AsyncOpenAI) -> list[Any]:
        stream = await c.chat.completions.create(
            model="gpt-4o-mini", messages=HELLO, tools=TOOLS, stream=True, stream_options=WITH_USAGE
        )
        assert span_exporter.get_finished_spans() == ()
        return [chunk async for chunk in stream]

    chunks = run_async(fake_llm, read)
    span = only_span(span_exporter)
    call_id = chunks[1].choices[0].delta.tool_calls[0].id
    call = {"type": "tool_call", "id": call_id, "name": "get_weather", "arguments": {"city": "Paris"}}
    assert outputs(span) == [{"role": "assistant", "parts": [call], "finish_reason": "tool_call"}]
    assert span.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == chunks[-1].usage.prompt_tokens
    assert span.attributes[sc.GEN_AI_RESPONSE_ID] == chunks[0].id
    assert_ttfc(span)


def test_async_non_stream_span(instrumented, fake_llm, span_exporter):
    async def call(c: openai.AsyncOpenAI) -> Any:
        return await c.chat.completions.create(model="fake-chat", messages=HELLO)

    response = run_async(fake_llm, call)
    assert type(response) is ChatCompletion
    assert response.choices[0].message.content == CHAT_ANSWER
    span = only_span(span_exporter)
    assert span.name == "chat fake-chat"
    assert span.attributes[sc.GEN_AI_RESPONSE_ID] == response.id
    assert span.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == response.usage.completion_tokens
    assert span.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK not in span.attributes
    assert outputs(span)[0]["parts"] == [{"type": "text", "content": CHAT_ANSWER}]


def test_async_errors_propagate(instrumented, fake_llm, span_exporter):
    async def call(c: openai.AsyncOpenAI) -> Any:
        return await c.chat.completions.create(model="fake-error", messages=HELLO, stream=True)

    with pytest.raises(openai.InternalServerError):
        run_async(fake_llm, call)
    span = only_span(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == "500"


def test_span_current_only_during_the_http_call(instrumented, client, span_exporter, tracer_provider):
    with tracer_provider.get_tracer("test").start_as_current_span("invoke_agent") as parent:
        stream = client.chat.completions.create(model="fake-chat", messages=HELLO, stream=True)
        assert trace.get_current_span() is parent
        for _ in stream:
            assert trace.get_current_span() is parent
    chat = next(s for s in span_exporter.get_finished_spans() if s.name == "chat fake-chat")
    assert chat.parent.span_id == parent.get_span_context().span_id


# --- every exit path ends the span exactly once ---------------------------------------------------


def test_break_then_close(instrumented, client, span_exporter):
    stream = client.chat.completions.create(model="fake-chat", messages=HELLO, stream=True)
    for _ in stream:
        break
    assert span_exporter.get_finished_spans() == ()  # the caller may still read on
    next(stream)
    stream.close()
    span = only_span(span_exporter)
    assert span.status.status_code is StatusCode.UNSET
    assert outputs(span)[0]["finish_reason"] == "error"  # cut short: no finish reason arrived
    assert outputs(span)[0]["parts"][0]["content"] == "Hello! "  # the first two chunks
    assert_ttfc(span)
    stream.close()  # a second close() is harmless and ends nothing more
    assert len(span_exporter.get_finished_spans()) == 1


def test_with_exit(instrumented, client, span_exporter):
    with client.chat.completions.create(model="fake-chat", messages=HELLO, stream=True) as stream:
        assert isinstance(stream, openai.Stream)
        next(stream)
        assert span_exporter.get_finished_spans() == ()
    assert only_span(span_exporter).status.status_code is StatusCode.UNSET
    assert stream.response.is_closed


def test_with_exit_after_exhaustion(instrumented, client, span_exporter):
    with client.chat.completions.create(model="fake-chat", messages=HELLO, stream=True) as stream:
        chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == CHAT_ANSWER
    assert only_span(span_exporter).attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


def test_sdk_stream_helper(instrumented, client, span_exporter):
    with client.chat.completions.stream(model="gpt-4o-mini", messages=HELLO, tools=TOOLS) as events:
        final = events.get_final_completion()
    assert json.loads(final.choices[0].message.tool_calls[0].function.arguments) == {"city": "Paris"}
    span = only_span(span_exporter)
    assert outputs(span)[0]["parts"][0]["id"] == final.choices[0].message.tool_calls[0].id


def test_abandoned_stream_is_ended_by_gc(instrumented, client, span_exporter):
    stream = client.chat.completions.create(model="fake-chat", messages=HELLO, stream=True)
    next(stream)
    del stream
    gc.collect()
    span = only_span(span_exporter)
    assert span.status.status_code is StatusCode.UNSET
    assert_ttfc(span)


def test_abandoned_async_stream_is_ended_by_gc(instrumented, fake_llm, span_exporter):
    async def abandon(c: openai.AsyncOpenAI) -> None:
        stream = await c.chat.completions.create(model="fake-chat", messages=HELLO, stream=True)
        await stream.__anext__()
        del stream
        gc.collect()
        assert len(span_exporter.get_finished_spans()) == 1
        # After ``async for ... break`` the loop still holds the suspended async generator (and
        # through it the stream) until it finalizes the generator; then the span ends.
        stream = await c.chat.completions.create(model="fake-chat", messages=HELLO, stream=True)
        async for _ in stream:
            break
        del stream

    run_async(fake_llm, abandon)
    gc.collect()
    spans = span_exporter.get_finished_spans()
    assert len(spans) == 2
    assert all(s.status.status_code is StatusCode.UNSET for s in spans)


def test_async_exit_paths(instrumented, fake_llm, span_exporter):
    async def paths(c: openai.AsyncOpenAI) -> None:
        create = c.chat.completions.create
        async with await create(model="fake-chat", messages=HELLO, stream=True) as stream:
            assert isinstance(stream, openai.AsyncStream)
            await stream.__anext__()
        assert len(span_exporter.get_finished_spans()) == 1
        stream = await create(model="fake-chat", messages=HELLO, stream=True)
        await stream.__anext__()
        await stream.close()
        await stream.aclose()
        assert len(span_exporter.get_finished_spans()) == 2
        stream = await create(model="fake-chat", messages=HELLO, stream=True)
        await stream.aclose()
        assert len(span_exporter.get_finished_spans()) == 3

    run_async(fake_llm, paths)
    spans = span_exporter.get_finished_spans()
    assert [s.status.status_code for s in spans] == [StatusCode.UNSET] * 3
    assert sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK not in spans[2].attributes  # nothing was read


def test_http_error_before_streaming(instrumented, client, span_exporter):
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="fake-error", messages=HELLO, stream=True)
    assert info.value.status_code == 500
    span = only_span(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == "500"


def _broken_stream(request: httpx2.Request) -> httpx2.Response:
    # A server that fails mid-stream: one chunk, then an error event (the SDK raises APIError).
    chunk = {
        "id": "chatcmpl-broken",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}],
    }
    body = f"data: {json.dumps(chunk)}\n\ndata: {json.dumps({'error': {'message': 'boom'}})}\n\n"
    return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body.encode())


def test_error_mid_stream(instrumented, span_exporter):
    http_client = openai.DefaultHttpx2Client(transport=httpx2.MockTransport(_broken_stream))
    with openai.OpenAI(base_url="http://broken.test/v1", api_key="k", http_client=http_client) as c:
        stream = c.chat.completions.create(model="m", messages=HELLO, stream=True)
        with pytest.raises(openai.APIError) as info:
            for _ in stream:
                pass
        stream.close()
    assert type(info.value) is openai.APIError
    assert info.value.message == "boom"
    span = only_span(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == "APIError"
    assert span.attributes[sc.GEN_AI_RESPONSE_ID] == "chatcmpl-broken"
    assert outputs(span)[0]["parts"] == [{"type": "text", "content": "hi"}]
    assert [e.name for e in span.events] == ["exception"]


def test_async_error_mid_stream(instrumented, span_exporter):
    async def main() -> None:
        http_client = openai.DefaultAsyncHttpx2Client(transport=httpx2.MockTransport(_broken_stream))
        async with openai.AsyncOpenAI(
            base_url="http://broken.test/v1", api_key="k", http_client=http_client
        ) as c:
            stream = await c.chat.completions.create(model="m", messages=HELLO, stream=True)
            with pytest.raises(openai.APIError, match="boom"):
                async for _ in stream:
                    pass

    asyncio.run(main())
    span = only_span(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == "APIError"


def test_raw_response_stream_records_the_parsed_stream(instrumented, client, span_exporter):
    raw = client.chat.completions.with_raw_response.create(model="fake-chat", messages=HELLO, stream=True)
    assert span_exporter.get_finished_spans() == ()  # open until the caller reads the stream
    chunks = list(raw.parse())
    assert raw.parse() is raw.parse()  # the SDK caches what parse() returns; so do we
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == CHAT_ANSWER
    span = only_span(span_exporter)
    assert span.attributes[sc.GEN_AI_RESPONSE_ID] == chunks[0].id
    assert outputs(span)[0]["parts"] == [{"type": "text", "content": CHAT_ANSWER}]


def test_failing_accumulator_never_breaks_the_stream(instrumented, client, span_exporter, monkeypatch):
    def boom(self: Any, chunk: Any) -> None:
        raise RuntimeError("instrumentation bug")

    monkeypatch.setattr(streams.ChatChunkAccumulator, "add", boom)
    chunks = list(client.chat.completions.create(model="fake-chat", messages=HELLO, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == CHAT_ANSWER
    assert only_span(span_exporter).end_time is not None


def test_uninstrument_restores_async_create(tracer_provider, span_exporter, fake_llm):
    original = vars(AsyncCompletions)["create"]
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    try:
        assert isinstance(vars(AsyncCompletions)["create"], wrapt.FunctionWrapper)
    finally:
        instrumentor.uninstrument()
    assert vars(AsyncCompletions)["create"] is original

    async def read(c: openai.AsyncOpenAI) -> type:
        async with await c.chat.completions.create(model="fake-chat", messages=HELLO, stream=True) as s:
            return type(s)

    assert run_async(fake_llm, read) is openai.AsyncStream  # the SDK's own, no proxy
    assert span_exporter.get_finished_spans() == ()
