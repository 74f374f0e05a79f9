"""AnthropicInstrumentor against the real anthropic SDK and FakeLLMServer's /v1/messages."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from trajotel import semconv as sc
from trajotel.instrument.anthropic import AnthropicInstrumentor
from trajotel.testing import FakeLLMServer

SYSTEM = "You are a weather bot."
TOOLS: list[dict[str, Any]] = [
    {
        "name": "get_weather",
        "description": "The weather in a city.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
    {"name": "add", "input_schema": {"type": "object", "properties": {"a": {}, "b": {}}}},
]
USER = {"role": "user", "content": "Weather in Paris, and 21 + 21?"}
SDK_SPAN = "anthropic.messages.create"


@pytest.fixture
def instrumentor(
    tracer_provider: TracerProvider, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AnthropicInstrumentor]:
    monkeypatch.delenv(sc.ENV_CAPTURE_MESSAGE_CONTENT, raising=False)
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    yield instrumentor
    instrumentor.uninstrument()


def _base_url(server: FakeLLMServer) -> str:
    return f"http://{server.host}:{server.port}"


@pytest.fixture
def client(fake_llm: FakeLLMServer, tracer_provider: TracerProvider) -> Iterator[anthropic.Anthropic]:
    # The SDK's own tracing is on and exports to the same provider: any span it emits is seen.
    with anthropic.Anthropic(
        base_url=_base_url(fake_llm),
        api_key="test",
        max_retries=0,
        open_telemetry={"tracer_provider": tracer_provider},
    ) as c:
        yield c


def _async_client(server: FakeLLMServer, provider: TracerProvider) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        base_url=_base_url(server),
        api_key="test",
        max_retries=0,
        open_telemetry={"tracer_provider": provider},
    )


def _attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def _json_attr(span: ReadableSpan, key: str) -> Any:
    return json.loads(_attrs(span)[key])


def _tool_loop(client: anthropic.Anthropic) -> tuple[list[Any], list[Any]]:
    """The default scenario: get_weather, add, final answer; returns requests and responses."""
    messages: list[Any] = [USER]
    requests, responses = [], []
    for _ in range(3):
        requests.append(list(messages))
        response = client.messages.create(
            model="default", max_tokens=256, system=SYSTEM, tools=TOOLS, messages=messages
        )
        responses.append(response)
        if response.stop_reason != "tool_use":
            break
        tool_use = response.content[0]
        messages = [
            *messages,
            {
                "role": "assistant",
                "content": [block.model_dump(exclude_none=True) for block in response.content],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "ok"}],
            },
        ]
    return requests, responses


def test_tool_loop_records_one_chat_span_per_turn(
    instrumentor: AnthropicInstrumentor, client: anthropic.Anthropic, span_exporter: InMemorySpanExporter
) -> None:
    _, responses = _tool_loop(client)
    spans = span_exporter.get_finished_spans()

    assert len(responses) == 3
    # Exactly one span per call: the SDK's own anthropic.messages.create spans are off.
    assert [s.name for s in spans] == ["chat default"] * 3
    for span, response in zip(spans, responses, strict=True):
        attrs = _attrs(span)
        assert span.kind is SpanKind.CLIENT
        assert span.status.status_code is StatusCode.UNSET
        assert attrs[sc.GEN_AI_OPERATION_NAME] == "chat"
        assert attrs[sc.GEN_AI_PROVIDER_NAME] == "anthropic"
        assert attrs[sc.GEN_AI_REQUEST_MODEL] == "default"
        assert attrs[sc.GEN_AI_REQUEST_MAX_TOKENS] == 256
        assert attrs[sc.GEN_AI_RESPONSE_ID] == response.id
        assert attrs[sc.GEN_AI_RESPONSE_MODEL] == "default"
        assert attrs["server.address"] == "127.0.0.1"
        assert _json_attr(span, sc.GEN_AI_SYSTEM_INSTRUCTIONS) == [{"type": "text", "content": SYSTEM}]
        assert _json_attr(span, sc.GEN_AI_TOOL_DEFINITIONS) == [
            {
                "type": "function",
                "name": "get_weather",
                "description": "The weather in a city.",
                "parameters": TOOLS[0]["input_schema"],
            },
            {"type": "function", "name": "add", "parameters": TOOLS[1]["input_schema"]},
        ]
    assert [_attrs(s)[sc.GEN_AI_RESPONSE_FINISH_REASONS] for s in spans] == [
        ("tool_call",),
        ("tool_call",),
        ("stop",),
    ]

    first_call, second_call = responses[0].content[0], responses[1].content[0]
    assert _json_attr(spans[0], sc.GEN_AI_OUTPUT_MESSAGES) == [
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": first_call.id,
                    "name": "get_weather",
                    "arguments": {"city": "Paris"},
                }
            ],
            "finish_reason": "tool_call",
        }
    ]
    # The third turn's input: tool_use and tool_result blocks stay in their messages and roles.
    assert _json_attr(spans[2], sc.GEN_AI_INPUT_MESSAGES) == [
        {"role": "user", "parts": [{"type": "text", "content": USER["content"]}]},
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": first_call.id,
                    "name": "get_weather",
                    "arguments": {"city": "Paris"},
                }
            ],
        },
        {"role": "user", "parts": [{"type": "tool_call_response", "id": first_call.id, "response": "ok"}]},
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": second_call.id, "name": "add", "arguments": {"a": 21, "b": 21}}
            ],
        },
        {"role": "user", "parts": [{"type": "tool_call_response", "id": second_call.id, "response": "ok"}]},
    ]
    assert _json_attr(spans[2], sc.GEN_AI_OUTPUT_MESSAGES) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "It is sunny and 22 C in Paris, and 21 + 21 = 42."}],
            "finish_reason": "stop",
        }
    ]


def test_usage_sums_cached_input_per_conventions(
    instrumentor: AnthropicInstrumentor, client: anthropic.Anthropic, span_exporter: InMemorySpanExporter
) -> None:
    _, responses = _tool_loop(client)
    spans = span_exporter.get_finished_spans()
    for span, response in zip(spans, responses, strict=True):
        usage = response.usage
        attrs = _attrs(span)
        total = usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens
        assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == total
        assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == usage.output_tokens
        assert attrs[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == usage.cache_read_input_tokens
        assert attrs[sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] == usage.cache_creation_input_tokens
    # The fake reads from the cache after the first step: the sum is really exercised.
    assert responses[1].usage.cache_read_input_tokens > 0
    assert responses[1].usage.cache_creation_input_tokens > 0


def test_request_parameters(
    instrumentor: AnthropicInstrumentor, client: anthropic.Anthropic, span_exporter: InMemorySpanExporter
) -> None:
    client.messages.create(
        model="fake-chat",
        max_tokens=64,
        # anthropic 2.x takes sampling parameters through extra_body only.
        extra_body={"temperature": 0.5, "top_p": 0.9, "top_k": 40},
        stop_sequences=["END"],
        system=[{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Be kind."}],
        messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    )
    (span,) = span_exporter.get_finished_spans()
    attrs = _attrs(span)
    assert span.name == "chat fake-chat"
    assert attrs[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.5
    assert attrs[sc.GEN_AI_REQUEST_TOP_P] == 0.9
    assert attrs["gen_ai.request.top_k"] == 40
    assert attrs[sc.GEN_AI_REQUEST_STOP_SEQUENCES] == ("END",)
    assert _json_attr(span, sc.GEN_AI_SYSTEM_INSTRUCTIONS) == [
        {"type": "text", "content": "Be brief."},
        {"type": "text", "content": "Be kind."},
    ]
    assert sc.GEN_AI_TOOL_DEFINITIONS not in attrs


def test_error_marks_span_and_raises_the_same_exception(
    instrumentor: AnthropicInstrumentor, client: anthropic.Anthropic, span_exporter: InMemorySpanExporter
) -> None:
    with pytest.raises(anthropic.InternalServerError) as raised:
        client.messages.create(model="fake-error", max_tokens=16, messages=[USER])
    (span,) = span_exporter.get_finished_spans()
    assert span.name == "chat fake-error"
    assert span.status.status_code is StatusCode.ERROR
    assert _attrs(span)[sc.ERROR_TYPE] == "500"
    assert span.events[0].name == "exception"
    assert span.events[0].attributes["exception.type"].endswith("InternalServerError")
    assert span.events[0].attributes["exception.message"] == str(raised.value)


def test_sync_stream_records_one_span_with_assembled_output(
    instrumentor: AnthropicInstrumentor, client: anthropic.Anthropic, span_exporter: InMemorySpanExporter
) -> None:
    stream = client.messages.create(model="default", max_tokens=64, tools=TOOLS, messages=[USER], stream=True)
    assert isinstance(stream, anthropic.Stream)  # the proxy is transparent
    with stream:
        events = list(stream)
    assert events[0].type == "message_start"
    tool_id = events[1].content_block.id

    (span,) = span_exporter.get_finished_spans()
    attrs = _attrs(span)
    assert span.name == "chat default"
    assert attrs[sc.GEN_AI_RESPONSE_ID] == events[0].message.id
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_call",)
    assert attrs[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] >= 0
    start_usage = events[0].message.usage
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == (
        start_usage.input_tokens
        + start_usage.cache_read_input_tokens
        + start_usage.cache_creation_input_tokens
    )
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == events[-2].usage.output_tokens
    assert _json_attr(span, sc.GEN_AI_OUTPUT_MESSAGES) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": tool_id, "name": "get_weather", "arguments": {"city": "Paris"}}
            ],
            "finish_reason": "tool_call",
        }
    ]


def test_sync_text_stream_closed_early_ends_the_span(
    instrumentor: AnthropicInstrumentor, client: anthropic.Anthropic, span_exporter: InMemorySpanExporter
) -> None:
    stream = client.messages.create(model="fake-chat", max_tokens=64, messages=[USER], stream=True)
    for event in stream:
        if event.type == "content_block_delta":
            break
    stream.close()
    (span,) = span_exporter.get_finished_spans()
    # Cut short: what arrived is recorded, without a stop reason.
    assert _attrs(span)[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("error",)
    assert _json_attr(span, sc.GEN_AI_OUTPUT_MESSAGES)[0]["parts"] == [{"type": "text", "content": "Hello! "}]


def test_async_create_and_stream(
    instrumentor: AnthropicInstrumentor,
    fake_llm: FakeLLMServer,
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
) -> None:
    async def run() -> tuple[Any, list[Any]]:
        async with _async_client(fake_llm, tracer_provider) as client:
            message = await client.messages.create(model="fake-chat", max_tokens=32, messages=[USER])
            stream = await client.messages.create(
                model="fake-chat", max_tokens=32, messages=[USER], stream=True
            )
            assert isinstance(stream, anthropic.AsyncStream)
            events = [event async for event in stream]
            return message, events

    message, events = asyncio.run(run())
    spans = span_exporter.get_finished_spans()
    assert [s.name for s in spans] == ["chat fake-chat", "chat fake-chat"]
    expected = [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Hello! I am a fake LLM."}],
            "finish_reason": "stop",
        }
    ]
    assert _attrs(spans[0])[sc.GEN_AI_RESPONSE_ID] == message.id
    assert _attrs(spans[1])[sc.GEN_AI_RESPONSE_ID] == events[0].message.id
    for span in spans:
        assert _json_attr(span, sc.GEN_AI_OUTPUT_MESSAGES) == expected
        assert _attrs(span)[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


def test_stream_helper_sync_and_async(
    instrumentor: AnthropicInstrumentor,
    client: anthropic.Anthropic,
    fake_llm: FakeLLMServer,
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
) -> None:
    with client.messages.stream(model="default", max_tokens=64, system=SYSTEM, messages=[USER]) as stream:
        final = stream.get_final_message()

    async def run() -> Any:
        async with (
            _async_client(fake_llm, tracer_provider) as aclient,
            aclient.messages.stream(model="fake-chat", max_tokens=32, messages=[USER]) as astream,
        ):
            return await astream.get_final_message()

    afinal = asyncio.run(run())
    spans = span_exporter.get_finished_spans()
    # One span per call, and none of the SDK's.
    assert [s.name for s in spans] == ["chat default", "chat fake-chat"]
    attrs = _attrs(spans[0])
    assert attrs[sc.GEN_AI_RESPONSE_ID] == final.id
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_call",)
    assert _json_attr(spans[0], sc.GEN_AI_SYSTEM_INSTRUCTIONS) == [{"type": "text", "content": SYSTEM}]
    tool_use = final.content[0]
    assert _json_attr(spans[0], sc.GEN_AI_OUTPUT_MESSAGES)[0]["parts"] == [
        {"type": "tool_call", "id": tool_use.id, "name": "get_weather", "arguments": {"city": "Paris"}}
    ]
    assert _attrs(spans[1])[sc.GEN_AI_RESPONSE_ID] == afinal.id
    assert _json_attr(spans[1], sc.GEN_AI_OUTPUT_MESSAGES)[0]["parts"] == [
        {"type": "text", "content": "Hello! I am a fake LLM."}
    ]
    assert _attrs(spans[1])[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == afinal.usage.output_tokens


def test_no_content_mode_records_no_content(
    instrumentor: AnthropicInstrumentor,
    client: anthropic.Anthropic,
    span_exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(sc.ENV_CAPTURE_MESSAGE_CONTENT, "NO_CONTENT")
    client.messages.create(model="default", max_tokens=16, system=SYSTEM, tools=TOOLS, messages=[USER])
    (span,) = span_exporter.get_finished_spans()
    attrs = _attrs(span)
    for key in (
        sc.GEN_AI_INPUT_MESSAGES,
        sc.GEN_AI_OUTPUT_MESSAGES,
        sc.GEN_AI_SYSTEM_INSTRUCTIONS,
        sc.GEN_AI_TOOL_DEFINITIONS,
    ):
        assert key not in attrs
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_call",)


def test_sdk_spans_are_back_after_uninstrument(
    tracer_provider: TracerProvider,
    client: anthropic.Anthropic,
    span_exporter: InMemorySpanExporter,
) -> None:
    originals = [
        getattr(cls, name)
        for cls in (anthropic.resources.messages.Messages, anthropic.resources.messages.AsyncMessages)
        for name in ("create", "stream")
    ]
    # Without trajotel the SDK emits its own span: the one-span assertions above mean something.
    client.messages.create(model="fake-chat", max_tokens=16, messages=[USER])
    assert [s.name for s in span_exporter.get_finished_spans()] == [SDK_SPAN]
    span_exporter.clear()

    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    try:
        client.messages.create(model="fake-chat", max_tokens=16, messages=[USER])
        assert [s.name for s in span_exporter.get_finished_spans()] == ["chat fake-chat"]
    finally:
        instrumentor.uninstrument()
    span_exporter.clear()

    assert [
        getattr(cls, name)
        for cls in (anthropic.resources.messages.Messages, anthropic.resources.messages.AsyncMessages)
        for name in ("create", "stream")
    ] == originals
    client.messages.create(model="fake-chat", max_tokens=16, messages=[USER])
    assert [s.name for s in span_exporter.get_finished_spans()] == [SDK_SPAN]


def test_instrumentation_failure_does_not_break_the_call(
    instrumentor: AnthropicInstrumentor,
    client: anthropic.Anthropic,
    span_exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from trajotel.instrument.anthropic import wrappers

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("instrumentation bug")

    monkeypatch.setattr(wrappers, "set_response_attributes", broken)
    monkeypatch.setattr(wrappers.ac, "input_messages", broken)
    message = client.messages.create(model="fake-chat", max_tokens=16, messages=[USER])
    assert message.content[0].text == "Hello! I am a fake LLM."
    (span,) = span_exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.UNSET


def test_with_raw_response_returns_the_raw_response(
    instrumentor: AnthropicInstrumentor, client: anthropic.Anthropic, span_exporter: InMemorySpanExporter
) -> None:
    raw = client.messages.with_raw_response.create(model="fake-chat", max_tokens=16, messages=[USER])
    assert raw.parse().content[0].text == "Hello! I am a fake LLM."
    (span,) = span_exporter.get_finished_spans()
    # The body is the caller's to parse: the span keeps its request attributes only.
    assert span.name == "chat fake-chat"
    assert sc.GEN_AI_RESPONSE_ID not in _attrs(span)


def test_content_block_conversion() -> None:
    from trajotel.instrument.anthropic import content

    messages = [
        {
            "role": "user",
            "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAA"}},
                {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                },
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "s"},
                {"type": "text", "text": "done"},
            ],
        },
    ]
    assert content.input_messages(messages) == [
        {
            "role": "user",
            "parts": [
                {"type": "blob", "modality": "image", "content": "AAA", "mime_type": "image/png"},
                {"type": "uri", "modality": "image", "uri": "https://x/y.png"},
                {"type": "tool_call_response", "id": "toolu_1", "response": "ab"},
            ],
        },
        {
            "role": "assistant",
            "parts": [{"type": "reasoning", "content": "hmm"}, {"type": "text", "content": "done"}],
        },
    ]
    assert content.map_stop_reason("stop_sequence") == "stop"
    assert content.map_stop_reason("max_tokens") == "length"
    assert content.map_stop_reason("refusal") == "refusal"
