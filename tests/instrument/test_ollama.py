"""OllamaInstrumentor against the real ollama client and FakeLLMServer's /api/chat."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from importlib.metadata import entry_points
from typing import Any

import ollama
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from trajotel import semconv as sc
from trajotel.instrument.ollama import OllamaInstrumentor
from trajotel.testing import FakeLLMServer

TOOLS: list[dict[str, Any]] = [
    {"type": "function", "function": {"name": "get_weather", "description": "The weather in a city."}},
    {"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}},
]
USER = {"role": "user", "content": "Weather in Paris, and 21 + 21?"}
RESULTS = {"get_weather": "sunny, 22 C", "add": "42"}


@pytest.fixture
def instrumentor(tracer_provider: TracerProvider, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(sc.ENV_CAPTURE_MESSAGE_CONTENT, raising=False)
    instrumentor = OllamaInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    yield
    instrumentor.uninstrument()


def _host(server: FakeLLMServer) -> str:
    return f"http://{server.host}:{server.port}"


def _attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def _json(span: ReadableSpan, key: str) -> Any:
    return json.loads(_attrs(span)[key])


def _tool_loop(client: ollama.Client, stream: bool) -> list[dict[str, Any]]:
    """The default scenario: get_weather, add, answer; returns the assistant messages."""
    messages: list[Any] = [USER]
    answers = []
    for _ in range(3):
        if stream:
            chunks = list(client.chat(model="default", messages=messages, tools=TOOLS, stream=True))
            calls = [call for c in chunks for call in (c.message.tool_calls or [])]
            text = "".join(c.message.content or "" for c in chunks)
            message = {"role": "assistant", "content": text, "tool_calls": calls}
        else:
            response = client.chat(model="default", messages=messages, tools=TOOLS)
            message = {"role": "assistant", "content": response.message.content or "", "tool_calls": []}
            message["tool_calls"] = list(response.message.tool_calls or [])
        answers.append(message)
        messages.append(message)
        for call in message["tool_calls"]:
            name = call.function.name
            messages.append({"role": "tool", "content": RESULTS[name], "tool_name": name})
    return answers


@pytest.mark.parametrize("stream", [False, True])
def test_tool_loop_is_one_span_per_call(
    instrumentor: None, fake_llm: FakeLLMServer, span_exporter: InMemorySpanExporter, stream: bool
) -> None:
    answers = _tool_loop(ollama.Client(host=_host(fake_llm)), stream)
    assert answers[-1]["content"] == "It is sunny and 22 C in Paris, and 21 + 21 = 42."
    spans = span_exporter.get_finished_spans()
    assert len(spans) == 3
    first, second, last = spans
    attrs = _attrs(first)
    assert first.name == "chat default" and first.kind is SpanKind.CLIENT
    assert attrs[sc.GEN_AI_PROVIDER_NAME] == "ollama"
    assert attrs[sc.SERVER_ADDRESS] == fake_llm.host and attrs[sc.SERVER_PORT] == fake_llm.port
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] > 0 and attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] > 0
    assert (sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in attrs) is stream
    assert _json(first, sc.GEN_AI_TOOL_DEFINITIONS)[0] == {
        "type": "function",
        "name": "get_weather",
        "description": "The weather in a city.",
    }
    (output,) = _json(first, sc.GEN_AI_OUTPUT_MESSAGES)
    assert output["finish_reason"] == "tool_call"
    assert [(p["type"], p["name"], p["arguments"]) for p in output["parts"]] == [
        ("tool_call", "get_weather", {"city": "Paris"})
    ]
    # The second call's input carries the first call and its result.
    history = _json(second, sc.GEN_AI_INPUT_MESSAGES)
    assert [m["role"] for m in history] == ["user", "assistant", "tool"]
    assert history[2]["parts"] == [{"type": "tool_call_response", "id": None, "response": "sunny, 22 C"}]
    assert history[2]["name"] == "get_weather"
    (final,) = _json(last, sc.GEN_AI_OUTPUT_MESSAGES)
    assert final["finish_reason"] == "stop"
    assert final["parts"] == [{"type": "text", "content": answers[-1]["content"]}]


def test_async_chat_stream_and_not(
    instrumentor: None, fake_llm: FakeLLMServer, span_exporter: InMemorySpanExporter
) -> None:
    async def run() -> tuple[str, str]:
        client = ollama.AsyncClient(host=_host(fake_llm))
        whole = await client.chat(model="fake-chat", messages=[USER], options={"temperature": 0.5})
        stream = await client.chat(model="fake-chat", messages=[USER], stream=True)
        text = "".join([chunk.message.content async for chunk in stream])
        return whole.message.content or "", text

    whole, streamed = asyncio.run(run())
    assert whole == streamed == "Hello! I am a fake LLM."
    plain, streaming = span_exporter.get_finished_spans()
    assert _attrs(plain)[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.5
    assert _attrs(streaming)[sc.GEN_AI_REQUEST_STREAM] is True
    for span in (plain, streaming):
        (output,) = _json(span, sc.GEN_AI_OUTPUT_MESSAGES)
        assert output["parts"] == [{"type": "text", "content": whole}]


def test_async_stream_closed_early_ends_the_span(
    instrumentor: None, fake_llm: FakeLLMServer, span_exporter: InMemorySpanExporter
) -> None:
    async def run() -> None:
        client = ollama.AsyncClient(host=_host(fake_llm))
        stream = await client.chat(model="fake-chat", messages=[USER], stream=True)
        await stream.__anext__()
        await stream.aclose()

    asyncio.run(run())
    (span,) = span_exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.UNSET
    assert sc.GEN_AI_USAGE_OUTPUT_TOKENS not in _attrs(span)  # the final line was never read


def test_error_passes_unchanged(
    instrumentor: None, fake_llm: FakeLLMServer, span_exporter: InMemorySpanExporter
) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        ollama.Client(host=_host(fake_llm)).chat(model="fake-error", messages=[USER])
    assert caught.value.status_code == 500
    (span,) = span_exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert _attrs(span)[sc.ERROR_TYPE] == "500"


def test_no_content_mode_records_no_messages(
    instrumentor: None,
    fake_llm: FakeLLMServer,
    span_exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(sc.ENV_CAPTURE_MESSAGE_CONTENT, "NO_CONTENT")
    client = ollama.Client(host=_host(fake_llm))
    list(client.chat(model="default", messages=[USER], tools=TOOLS, stream=True))
    (span,) = span_exporter.get_finished_spans()
    attrs = _attrs(span)
    assert not set(sc.CONTENT_ATTRIBUTES) & set(attrs)
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] > 0


def test_uninstrument_and_entry_point(
    fake_llm: FakeLLMServer, tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    instrumentor = OllamaInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    instrumentor.uninstrument()
    ollama.Client(host=_host(fake_llm)).chat(model="fake-chat", messages=[USER])
    assert span_exporter.get_finished_spans() == ()
    (entry,) = [e for e in entry_points(group="opentelemetry_instrumentor") if e.name == "trajotel_ollama"]
    assert entry.load() is OllamaInstrumentor
