"""OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=EVENT_ONLY / SPAN_AND_EVENT: each model call
emits one ``gen_ai.client.inference.operation.details`` log record, in the call's span context,
with structured content. Real anthropic SDK against the fake server; real OTel logs SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from opentelemetry import _logs
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from trajotel import semconv as sc
from trajotel.instrument.anthropic import AnthropicInstrumentor
from trajotel.testing import FakeLLMServer

USER = {"role": "user", "content": "Weather in Paris?"}
SYSTEM = "Be brief."

_log_exporter = InMemoryLogRecordExporter()


@pytest.fixture(scope="module", autouse=True)
def global_logger_provider() -> None:
    # The events go through the global logger provider, as under opentelemetry-instrument; the
    # OpenTelemetry API lets a process set it once.
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(_log_exporter))
    _logs.set_logger_provider(provider)


@pytest.fixture
def log_exporter() -> Iterator[InMemoryLogRecordExporter]:
    _log_exporter.clear()
    yield _log_exporter


@pytest.fixture
def anthropic_client(
    fake_llm: FakeLLMServer, tracer_provider: TracerProvider
) -> Iterator[anthropic.Anthropic]:
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    with anthropic.Anthropic(
        base_url=f"http://{fake_llm.host}:{fake_llm.port}", api_key="test", max_retries=0
    ) as client:
        yield client
    instrumentor.uninstrument()


def _plain(attributes: Any) -> dict[str, Any]:
    return json.loads(json.dumps(dict(attributes)))


def _events(exporter: InMemoryLogRecordExporter) -> list[Any]:
    return [
        data.log_record
        for data in exporter.get_finished_logs()
        if data.log_record.event_name == sc.EVENT_GEN_AI_OPERATION_DETAILS
    ]


@pytest.mark.parametrize("stream", [False, True])
def test_event_only_puts_content_in_one_event_and_none_on_the_span(
    anthropic_client: anthropic.Anthropic,
    span_exporter: InMemorySpanExporter,
    log_exporter: InMemoryLogRecordExporter,
    monkeypatch: pytest.MonkeyPatch,
    stream: bool,
) -> None:
    monkeypatch.setenv(sc.ENV_CAPTURE_MESSAGE_CONTENT, "event_only")
    kwargs: dict[str, Any] = {"model": "fake-chat", "max_tokens": 32, "system": SYSTEM, "messages": [USER]}
    if stream:
        with anthropic_client.messages.stream(**kwargs) as s:
            message = s.get_final_message()
    else:
        message = anthropic_client.messages.create(**kwargs)

    (span,) = span_exporter.get_finished_spans()
    assert sc.GEN_AI_INPUT_MESSAGES not in span.attributes
    assert sc.GEN_AI_OUTPUT_MESSAGES not in span.attributes
    (event,) = _events(log_exporter)
    assert event.trace_id == span.context.trace_id and event.span_id == span.context.span_id
    # Structured values, not JSON strings (the SDK hands sequences back as tuples).
    attrs = _plain(event.attributes)
    assert attrs[sc.GEN_AI_INPUT_MESSAGES][0]["parts"] == [{"type": "text", "content": USER["content"]}]
    assert attrs[sc.GEN_AI_SYSTEM_INSTRUCTIONS] == [{"type": "text", "content": SYSTEM}]
    assert attrs[sc.GEN_AI_OUTPUT_MESSAGES][0]["parts"] == [
        {"type": "text", "content": message.content[0].text}
    ]
    assert attrs[sc.GEN_AI_RESPONSE_ID] == message.id
    assert attrs[sc.GEN_AI_REQUEST_MODEL] == "fake-chat"


def test_span_and_event_records_both(
    anthropic_client: anthropic.Anthropic,
    span_exporter: InMemorySpanExporter,
    log_exporter: InMemoryLogRecordExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(sc.ENV_CAPTURE_MESSAGE_CONTENT, "SPAN_AND_EVENT")
    anthropic_client.messages.create(model="fake-chat", max_tokens=32, messages=[USER])
    (span,) = span_exporter.get_finished_spans()
    (event,) = _events(log_exporter)
    assert (
        json.loads(span.attributes[sc.GEN_AI_OUTPUT_MESSAGES])
        == _plain(event.attributes)[sc.GEN_AI_OUTPUT_MESSAGES]
    )


def test_failed_call_emits_its_input_with_the_error(
    anthropic_client: anthropic.Anthropic,
    log_exporter: InMemoryLogRecordExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(sc.ENV_CAPTURE_MESSAGE_CONTENT, "EVENT_ONLY")
    with pytest.raises(anthropic.InternalServerError):
        anthropic_client.messages.create(model="fake-error", max_tokens=32, messages=[USER])
    (event,) = _events(log_exporter)
    assert event.attributes[sc.ERROR_TYPE] == "500"
    assert sc.GEN_AI_OUTPUT_MESSAGES not in event.attributes
    assert _plain(event.attributes)[sc.GEN_AI_INPUT_MESSAGES][0]["role"] == "user"


@pytest.mark.parametrize("mode", ["SPAN_ONLY", "NO_CONTENT"])
def test_no_event_unless_asked(
    anthropic_client: anthropic.Anthropic,
    log_exporter: InMemoryLogRecordExporter,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    monkeypatch.setenv(sc.ENV_CAPTURE_MESSAGE_CONTENT, mode)
    anthropic_client.messages.create(model="fake-chat", max_tokens=32, messages=[USER])
    assert _events(log_exporter) == []


def test_openai_event_only(
    instrumented: None,
    client: Any,
    span_exporter: InMemorySpanExporter,
    log_exporter: InMemoryLogRecordExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(sc.ENV_CAPTURE_MESSAGE_CONTENT, "EVENT_ONLY")
    stream = client.chat.completions.create(model="fake-chat", messages=[USER], stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    (span,) = span_exporter.get_finished_spans()
    assert sc.GEN_AI_OUTPUT_MESSAGES not in span.attributes
    (event,) = _events(log_exporter)
    attrs = _plain(event.attributes)
    assert attrs[sc.GEN_AI_INPUT_MESSAGES][0]["parts"] == [{"type": "text", "content": USER["content"]}]
    assert attrs[sc.GEN_AI_OUTPUT_MESSAGES][0]["parts"] == [{"type": "text", "content": text}]
    assert event.span_id == span.context.span_id
    # The event carries the span's response attributes too, recorded before it was emitted.
    for key in (sc.GEN_AI_RESPONSE_ID, sc.GEN_AI_RESPONSE_MODEL, sc.GEN_AI_RESPONSE_FINISH_REASONS):
        assert attrs[key] == _plain(span.attributes)[key]
