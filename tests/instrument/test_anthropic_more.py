"""AnthropicInstrumentor beyond messages.create: the beta resource, parse, metrics, and calls the
SDK rejects before sending anything. Real anthropic SDK against FakeLLMServer's /v1/messages."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import anthropic
import pydantic
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from trajotel import semconv as sc
from trajotel.instrument.anthropic import AnthropicInstrumentor
from trajotel.testing import FakeLLMServer, Step

from tests.support.metric_points import points

USER = {"role": "user", "content": "Weather in Paris?"}
WEATHER_JSON = '{"city": "Paris", "temp_c": 22}'


class Weather(pydantic.BaseModel):
    city: str
    temp_c: int


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(scenarios={"fake-json": [Step.text(WEATHER_JSON)]}) as fake:
        yield fake


@pytest.fixture
def metric_reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def instrumented(
    tracer_provider: TracerProvider, metric_reader: InMemoryMetricReader, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    monkeypatch.delenv(sc.ENV_CAPTURE_MESSAGE_CONTENT, raising=False)
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(
        tracer_provider=tracer_provider, meter_provider=MeterProvider(metric_readers=[metric_reader])
    )
    yield
    instrumentor.uninstrument()


def _client(server: FakeLLMServer, provider: TracerProvider) -> anthropic.Anthropic:
    # The SDK's own tracing exports to the same provider: any span it emits is seen.
    return anthropic.Anthropic(
        base_url=f"http://{server.host}:{server.port}",
        api_key="test",
        max_retries=0,
        open_telemetry={"tracer_provider": provider},
    )


def _async_client(server: FakeLLMServer, provider: TracerProvider) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        base_url=f"http://{server.host}:{server.port}",
        api_key="test",
        max_retries=0,
        open_telemetry={"tracer_provider": provider},
    )


def test_beta_messages_create_and_stream_are_one_span_each(
    instrumented: None,
    server: FakeLLMServer,
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
) -> None:
    with _client(server, tracer_provider) as client:
        message = client.beta.messages.create(model="fake-chat", max_tokens=64, messages=[USER])
        with client.beta.messages.stream(model="fake-chat", max_tokens=64, messages=[USER]) as stream:
            streamed = stream.get_final_message()
        events = list(
            client.beta.messages.create(model="fake-chat", max_tokens=64, messages=[USER], stream=True)
        )

    spans = span_exporter.get_finished_spans()
    assert [s.name for s in spans] == ["chat fake-chat"] * 3  # none of the SDK's own spans
    assert [s.attributes[sc.GEN_AI_RESPONSE_ID] for s in spans] == [
        message.id,
        streamed.id,
        events[0].message.id,
    ]
    for span in spans:
        output = json.loads(span.attributes[sc.GEN_AI_OUTPUT_MESSAGES])
        assert output[0]["parts"] == [{"type": "text", "content": "Hello! I am a fake LLM."}]
    assert [r["path"].split("?")[0] for r in server.requests[-3:]] == ["/v1/messages"] * 3


def test_async_beta_stream_and_parse(
    instrumented: None,
    server: FakeLLMServer,
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
) -> None:
    async def run() -> tuple[Any, Any]:
        async with _async_client(server, tracer_provider) as client:
            async with client.beta.messages.stream(
                model="fake-chat", max_tokens=64, messages=[USER]
            ) as stream:
                streamed = await stream.get_final_message()
            parsed = await client.messages.parse(
                model="fake-json", max_tokens=64, messages=[USER], output_format=Weather
            )
            return streamed, parsed

    streamed, parsed = asyncio.run(run())
    assert parsed.parsed_output == Weather(city="Paris", temp_c=22)
    spans = span_exporter.get_finished_spans()
    assert [s.name for s in spans] == ["chat fake-chat", "chat fake-json"]
    assert spans[0].attributes[sc.GEN_AI_RESPONSE_ID] == streamed.id
    assert spans[1].attributes[sc.GEN_AI_RESPONSE_ID] == parsed.id
    output = json.loads(spans[1].attributes[sc.GEN_AI_OUTPUT_MESSAGES])
    assert output[0]["parts"] == [{"type": "text", "content": WEATHER_JSON}]


def test_sync_parse(
    instrumented: None,
    server: FakeLLMServer,
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
) -> None:
    with _client(server, tracer_provider) as client:
        parsed = client.messages.parse(
            model="fake-json", max_tokens=64, messages=[USER], output_format=Weather
        )
    assert parsed.parsed_output == Weather(city="Paris", temp_c=22)
    (span,) = span_exporter.get_finished_spans()
    assert span.attributes[sc.GEN_AI_RESPONSE_ID] == parsed.id


def test_call_rejected_before_sending_records_nothing(
    instrumented: None,
    server: FakeLLMServer,
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
) -> None:
    # pydantic-ai's pattern: a non-streamed call with a huge max_tokens is refused client-side,
    # then retried streamed. Only the retry is a model call.
    with _client(server, tracer_provider) as client:
        client.messages.create(model="fake-chat", max_tokens=16, messages=[USER])  # the hook is seen
        requests_before = len(server.requests)
        with pytest.raises(ValueError, match="Streaming is required"):
            client.beta.messages.create(model="fake-chat", max_tokens=64000, messages=[USER])
        assert len(server.requests) == requests_before  # the SDK really sent nothing
        events = list(
            client.beta.messages.create(model="fake-chat", max_tokens=64000, messages=[USER], stream=True)
        )
    spans = span_exporter.get_finished_spans()
    assert [s.name for s in spans] == ["chat fake-chat", "chat fake-chat"]
    assert spans[1].attributes[sc.GEN_AI_RESPONSE_ID] == events[0].message.id
    assert all(s.status.is_ok for s in spans)


def test_errors_after_sending_are_still_recorded(
    instrumented: None,
    server: FakeLLMServer,
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
) -> None:
    with _client(server, tracer_provider) as client, pytest.raises(anthropic.InternalServerError):
        client.messages.create(model="fake-error", max_tokens=16, messages=[USER])
    (span,) = span_exporter.get_finished_spans()
    assert span.attributes[sc.ERROR_TYPE] == "500"


def test_metrics_count_cached_input_the_conventions_way(
    instrumented: None,
    server: FakeLLMServer,
    tracer_provider: TracerProvider,
    metric_reader: InMemoryMetricReader,
) -> None:
    history: list[Any] = [USER]
    with _client(server, tracer_provider) as client:
        first = client.messages.create(model="default", max_tokens=64, messages=history)
        history += [
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": first.content[0].id, "content": "22 C"}],
            },
        ]
        with client.messages.stream(model="default", max_tokens=64, messages=history) as stream:
            second = stream.get_final_message()

    def total_input(usage: Any) -> int:
        return usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens

    tokens = points(metric_reader, sc.GEN_AI_CLIENT_TOKEN_USAGE)
    inputs = sorted(p.sum for p in tokens if p.attributes[sc.GEN_AI_TOKEN_TYPE] == sc.TOKEN_TYPE_INPUT)
    outputs = sorted(p.sum for p in tokens if p.attributes[sc.GEN_AI_TOKEN_TYPE] == sc.TOKEN_TYPE_OUTPUT)
    # Same attributes for both calls: one point per token type, summing both calls.
    assert inputs == [total_input(first.usage) + total_input(second.usage)]
    assert second.usage.cache_read_input_tokens > 0  # the cache really counted
    assert outputs == [first.usage.output_tokens + second.usage.output_tokens]
    (duration,) = points(metric_reader, sc.GEN_AI_CLIENT_OPERATION_DURATION)
    assert duration.count == 2
    assert duration.attributes[sc.GEN_AI_PROVIDER_NAME] == "anthropic"
    assert duration.attributes[sc.GEN_AI_RESPONSE_MODEL] == "default"
