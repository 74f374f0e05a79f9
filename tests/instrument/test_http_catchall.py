"""HTTPCatchAllInstrumentor against real httpx / httpx2 clients, the real openai and anthropic
SDKs and FakeLLMServer (httpx's MockTransport, a real transport, for bodies the fake does not
serve: legacy completions, compressed streams)."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Iterator
from importlib.metadata import entry_points
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from trajotel import semconv as sc
from trajotel.instrument.anthropic import AnthropicInstrumentor
from trajotel.instrument.http import HTTPCatchAllInstrumentor
from trajotel.instrument.openai import OpenAIInstrumentor
from trajotel.testing import FakeLLMServer

CATCH_ALL_SCOPE = "trajotel.instrument.http"
USER = {"role": "user", "content": "Weather in Paris?"}
CHAT_BODY = {"model": "fake-chat", "messages": [USER]}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]


@pytest.fixture
def catch_all(tracer_provider: TracerProvider, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(sc.ENV_CAPTURE_MESSAGE_CONTENT, raising=False)
    instrumentor = HTTPCatchAllInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    yield
    instrumentor.uninstrument()


def _attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def _llm_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if sc.GEN_AI_OPERATION_NAME in _attrs(s)]


def _only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    spans = _llm_spans(exporter)
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def _output_text(span: ReadableSpan) -> str:
    (message,) = json.loads(_attrs(span)[sc.GEN_AI_OUTPUT_MESSAGES])
    return "".join(p["content"] for p in message["parts"] if p["type"] == "text")


def _anthropic_url(server: FakeLLMServer) -> str:
    return f"http://{server.host}:{server.port}"


# --- raw clients ------------------------------------------------------------------------------


def test_raw_httpx_post_is_one_chat_span(
    catch_all: None, fake_llm: FakeLLMServer, span_exporter: InMemorySpanExporter
) -> None:
    with httpx.Client() as client:
        response = client.post(f"{fake_llm.base_url}/chat/completions", json=CHAT_BODY)
    assert response.json()["choices"][0]["message"]["content"] == "Hello! I am a fake LLM."
    span = _only_span(span_exporter)
    attrs = _attrs(span)
    assert span.name == "chat fake-chat"
    assert span.kind is SpanKind.CLIENT
    assert span.instrumentation_scope.name == CATCH_ALL_SCOPE
    assert attrs[sc.GEN_AI_PROVIDER_NAME] == "openai"
    assert attrs[sc.SERVER_ADDRESS] == fake_llm.host
    assert attrs[sc.SERVER_PORT] == fake_llm.port
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == response.json()["usage"]["prompt_tokens"]
    assert json.loads(attrs[sc.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": USER["content"]}]}
    ]
    assert _output_text(span) == "Hello! I am a fake LLM."


def test_raw_httpx2_async_stream_records_as_read_and_keeps_bytes(
    catch_all: None, fake_llm: FakeLLMServer, span_exporter: InMemorySpanExporter
) -> None:
    body = {**CHAT_BODY, "model": "default", "tools": TOOLS, "stream": True}

    async def run() -> bytes:
        url = f"{fake_llm.base_url}/chat/completions"
        async with httpx2.AsyncClient() as client, client.stream("POST", url, json=body) as response:
            pieces = [piece async for piece in response.aiter_bytes()]
            # Exhausted: the span ended while the response is still open.
            assert len(_llm_spans(span_exporter)) == 1
            return b"".join(pieces)

    raw = asyncio.run(run())
    assert raw.count(b"data: ") > 3 and raw.rstrip().endswith(b"data: [DONE]")
    attrs = _attrs(_only_span(span_exporter))
    assert attrs[sc.GEN_AI_REQUEST_MODEL] == "default"
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_calls",)
    assert sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in attrs
    (message,) = json.loads(attrs[sc.GEN_AI_OUTPUT_MESSAGES])
    (call,) = message["parts"]
    assert call["type"] == "tool_call" and call["name"] == "get_weather"
    assert call["arguments"] == {"city": "Paris"}
    assert call["id"].encode() in raw


def test_stream_closed_early_ends_the_span_once(
    catch_all: None, fake_llm: FakeLLMServer, span_exporter: InMemorySpanExporter
) -> None:
    body = {**CHAT_BODY, "stream": True}
    with httpx.Client() as client:
        with client.stream("POST", f"{fake_llm.base_url}/chat/completions", json=body) as response:
            reader = response.iter_raw()
            assert next(reader).startswith(b"data: ")
            assert _llm_spans(span_exporter) == []  # still open: the caller is reading
        response.close()  # closed twice: still one end
    span = _only_span(span_exporter)
    assert span.status.status_code is StatusCode.UNSET


def test_other_requests_are_not_recorded(
    catch_all: None, fake_llm: FakeLLMServer, span_exporter: InMemorySpanExporter
) -> None:
    with httpx.Client() as client:
        assert client.get(f"{fake_llm.base_url}/models").status_code == 200
        client.post(f"{fake_llm.base_url}/chat/completions", content=b"not json")
        client.post(f"{fake_llm.base_url}/chat/completions", content=iter([b"{}"]))  # streamed body
    assert _llm_spans(span_exporter) == []


# --- SDKs with only the catch-all ---------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_openai_sdk_with_only_the_catch_all(
    catch_all: None, fake_llm: FakeLLMServer, span_exporter: InMemorySpanExporter, stream: bool
) -> None:
    with openai.OpenAI(base_url=fake_llm.base_url, api_key="k", max_retries=0) as client:
        result = client.chat.completions.create(model="fake-chat", messages=[USER], stream=stream)
        text = (
            "".join(c.choices[0].delta.content or "" for c in result if c.choices)
            if stream
            else result.choices[0].message.content
        )
    assert text == "Hello! I am a fake LLM."
    span = _only_span(span_exporter)
    assert span.instrumentation_scope.name == CATCH_ALL_SCOPE
    assert _output_text(span) == text
    assert (sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in _attrs(span)) is stream


def test_async_openai_stream_with_only_the_catch_all(
    catch_all: None, fake_llm: FakeLLMServer, span_exporter: InMemorySpanExporter
) -> None:
    async def run() -> str:
        async with openai.AsyncOpenAI(base_url=fake_llm.base_url, api_key="k", max_retries=0) as client:
            stream = await client.chat.completions.create(
                model="fake-chat", messages=[USER], stream=True, stream_options={"include_usage": True}
            )
            return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    assert asyncio.run(run()) == "Hello! I am a fake LLM."
    attrs = _attrs(_only_span(span_exporter))
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] > 0


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_sdk_with_only_the_catch_all(
    catch_all: None, fake_llm: FakeLLMServer, span_exporter: InMemorySpanExporter, stream: bool
) -> None:
    # The SDK's own spans off: otherwise its span is the record (next test).
    with anthropic.Anthropic(
        base_url=_anthropic_url(fake_llm), api_key="k", max_retries=0, open_telemetry=False
    ) as client:
        kwargs: dict[str, Any] = {"model": "default", "max_tokens": 64, "messages": [USER]}
        if stream:
            with client.messages.stream(**kwargs) as events:
                message = events.get_final_message()
        else:
            message = client.messages.create(**kwargs)
    span = _only_span(span_exporter)
    attrs = _attrs(span)
    assert span.instrumentation_scope.name == CATCH_ALL_SCOPE
    assert attrs[sc.GEN_AI_PROVIDER_NAME] == "anthropic"
    assert attrs[sc.GEN_AI_RESPONSE_ID] == message.id
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_call",)
    (output,) = json.loads(attrs[sc.GEN_AI_OUTPUT_MESSAGES])
    assert output["parts"][0]["id"] == message.content[0].id


def test_anthropic_beta_messages_path_is_recorded(
    catch_all: None, fake_llm: FakeLLMServer, span_exporter: InMemorySpanExporter
) -> None:
    body = {"model": "fake-chat", "max_tokens": 16, "messages": [USER], "system": "Be brief."}
    with httpx2.Client() as client:
        client.post(f"{_anthropic_url(fake_llm)}/v1/messages?beta=true", json=body)
    attrs = _attrs(_only_span(span_exporter))
    assert json.loads(attrs[sc.GEN_AI_SYSTEM_INSTRUCTIONS]) == [{"type": "text", "content": "Be brief."}]


def test_anthropic_sdk_span_is_current_so_the_catch_all_stays_out(
    catch_all: None,
    fake_llm: FakeLLMServer,
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
) -> None:
    with anthropic.Anthropic(
        base_url=_anthropic_url(fake_llm),
        api_key="k",
        max_retries=0,
        open_telemetry={"tracer_provider": tracer_provider},
    ) as client:
        client.messages.create(model="fake-chat", max_tokens=16, messages=[USER])
    span = _only_span(span_exporter)
    assert span.name == "anthropic.messages.create"


# --- no doubling with the SDK instrumentors -------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_openai_instrumentor_and_catch_all_give_one_span(
    catch_all: None,
    fake_llm: FakeLLMServer,
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
    stream: bool,
) -> None:
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    try:
        with openai.OpenAI(base_url=fake_llm.base_url, api_key="k", max_retries=0) as client:
            for _ in range(2):
                result = client.chat.completions.create(model="fake-chat", messages=[USER], stream=stream)
                if stream:
                    list(result)
    finally:
        instrumentor.uninstrument()
    spans = _llm_spans(span_exporter)
    assert [s.instrumentation_scope.name for s in spans] == ["trajotel.instrument.openai"] * 2


def test_anthropic_instrumentor_and_catch_all_give_one_span(
    catch_all: None,
    fake_llm: FakeLLMServer,
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
) -> None:
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    try:
        with anthropic.Anthropic(base_url=_anthropic_url(fake_llm), api_key="k", max_retries=0) as client:
            client.messages.create(model="fake-chat", max_tokens=16, messages=[USER], stream=True).close()
    finally:
        instrumentor.uninstrument()
    span = _only_span(span_exporter)
    assert span.instrumentation_scope.name == "trajotel.instrument.anthropic"


@pytest.mark.parametrize(
    ("attributes", "recorded"),
    [
        ({sc.OPENINFERENCE_SPAN_KIND: "LLM"}, False),
        ({sc.OPENLLMETRY_REQUEST_TYPE: "chat"}, False),
        ({sc.GEN_AI_OPERATION_NAME: sc.OP_EMBEDDINGS}, False),
        ({sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_AGENT}, True),
        ({sc.OPENINFERENCE_SPAN_KIND: "CHAIN"}, True),
    ],
)
def test_another_llm_span_current_decides_by_attributes(
    catch_all: None,
    fake_llm: FakeLLMServer,
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
    attributes: dict[str, str],
    recorded: bool,
) -> None:
    tracer = tracer_provider.get_tracer("another.instrumentation")
    with tracer.start_as_current_span("outer", attributes=attributes) as outer, httpx.Client() as client:
        client.post(f"{fake_llm.base_url}/chat/completions", json=CHAT_BODY)
    ours = [s for s in span_exporter.get_finished_spans() if s.instrumentation_scope.name == CATCH_ALL_SCOPE]
    assert len(ours) == int(recorded)
    if recorded:
        assert ours[0].parent is not None and ours[0].parent.span_id == outer.get_span_context().span_id


# --- errors --------------------------------------------------------------------------------------


def test_http_error_status_marks_the_span(
    catch_all: None, fake_llm: FakeLLMServer, span_exporter: InMemorySpanExporter
) -> None:
    with (
        openai.OpenAI(base_url=fake_llm.base_url, api_key="k", max_retries=0) as client,
        pytest.raises(openai.InternalServerError),
    ):
        client.chat.completions.create(model="fake-error", messages=[USER], stream=True)
    span = _only_span(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert _attrs(span)[sc.ERROR_TYPE] == "500"


def test_connection_error_passes_unchanged(catch_all: None, span_exporter: InMemorySpanExporter) -> None:
    with httpx.Client() as client, pytest.raises(httpx.ConnectError):
        client.post("http://127.0.0.1:9/v1/chat/completions", json=CHAT_BODY)
    span = _only_span(span_exporter)
    assert _attrs(span)[sc.ERROR_TYPE] == "ConnectError"


# --- bodies the fake does not serve, through httpx's MockTransport ------------------------------


def _sse(*payloads: Any) -> bytes:
    return b"".join(f"data: {json.dumps(p)}\r\n\r\n".encode() for p in payloads) + b"data: [DONE]\n\n"


def test_legacy_completions_stream_gzip_encoded(catch_all: None, span_exporter: InMemorySpanExporter) -> None:
    chunks = [
        {"id": "cmpl-1", "model": "m", "choices": [{"index": 0, "text": "Hel", "finish_reason": None}]},
        {"id": "cmpl-1", "model": "m", "choices": [{"index": 0, "text": "lo", "finish_reason": "stop"}]},
    ]
    payload = gzip.compress(_sse(*chunks))

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"content-type": "text/event-stream", "content-encoding": "gzip"}
        # Two pieces: the gzip stream is split mid-way, as a network would split it.
        return httpx.Response(200, headers=headers, stream=httpx.ByteStream(payload))

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        body = {"model": "m", "prompt": "Say hello", "stream": True}
        with client.stream("POST", "http://llm.test/v1/completions", json=body) as response:
            text = response.read()
    assert text.decode().count("data:") == 3
    span = _only_span(span_exporter)
    attrs = _attrs(span)
    assert span.name == "text_completion m"
    assert attrs[sc.GEN_AI_OPERATION_NAME] == sc.OP_TEXT_COMPLETION
    assert json.loads(attrs[sc.GEN_AI_INPUT_MESSAGES])[0]["parts"][0]["content"] == "Say hello"
    assert _output_text(span) == "Hello"
    assert attrs[sc.SERVER_ADDRESS] == "llm.test"


def test_streamed_json_body_is_recorded_when_read(
    catch_all: None, fake_llm: FakeLLMServer, span_exporter: InMemorySpanExporter
) -> None:
    # ``with_streaming_response`` sends with stream=True and reads the JSON body later.
    with (
        openai.OpenAI(base_url=fake_llm.base_url, api_key="k", max_retries=0) as client,
        client.chat.completions.with_streaming_response.create(
            model="fake-chat", messages=[USER]
        ) as response,
    ):
        assert _llm_spans(span_exporter) == []
        completion = response.parse()
    span = _only_span(span_exporter)
    assert _attrs(span)[sc.GEN_AI_RESPONSE_ID] == completion.id


def test_uninstrument_stops_recording(
    fake_llm: FakeLLMServer, tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    instrumentor = HTTPCatchAllInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    instrumentor.uninstrument()
    with httpx.Client() as client:
        client.post(f"{fake_llm.base_url}/chat/completions", json=CHAT_BODY)
    assert span_exporter.get_finished_spans() == ()


def test_entry_point_for_opentelemetry_instrument() -> None:
    (entry,) = [e for e in entry_points(group="opentelemetry_instrumentor") if e.name == "trajotel_http"]
    assert entry.load() is HTTPCatchAllInstrumentor


@pytest.mark.parametrize("stream", [False, True])
def test_openai_responses_api_with_only_the_catch_all(
    catch_all: None, fake_llm: FakeLLMServer, span_exporter: InMemorySpanExporter, stream: bool
) -> None:
    with openai.OpenAI(base_url=fake_llm.base_url, api_key="k", max_retries=0) as client:
        if stream:
            events = list(client.responses.create(model="fake-chat", input="Hi", stream=True))
            response_id = events[-1].response.id
        else:
            response_id = client.responses.create(model="fake-chat", input="Hi").id
    span = _only_span(span_exporter)
    assert _attrs(span)[sc.GEN_AI_RESPONSE_ID] == response_id
    assert _output_text(span) == "Hello! I am a fake LLM."
