"""Embeddings, legacy completions and provider naming, against the real SDK and the fake server."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import openai
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from trajotel import semconv as sc
from trajotel.instrument.openai import OpenAIInstrumentor
from trajotel.instrument.openai.provider import provider_from_host, provider_name

CHAT_ANSWER = "Hello! I am a fake LLM."


@pytest.fixture(autouse=True)
def no_instrumentation_errors(caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.WARNING):
        yield
    messages = [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if "trajotel" in m or "on an ended span" in m], messages


def only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    spans = exporter.get_finished_spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def content(span: ReadableSpan, key: str) -> Any:
    return json.loads(span.attributes[key])


# --- embeddings -------------------------------------------------------------------------------


def test_embeddings_span(instrumented, client, span_exporter, fake_llm):
    result = client.embeddings.create(model="text-embedding-3-small", input=["a secret", "b"])
    assert len(result.data) == 2 and len(result.data[0].embedding) == 8
    span = only_span(span_exporter)
    assert span.name == "embeddings text-embedding-3-small"
    assert span.kind is SpanKind.CLIENT
    assert dict(span.attributes) == {
        sc.GEN_AI_OPERATION_NAME: "embeddings",
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.GEN_AI_REQUEST_MODEL: "text-embedding-3-small",
        sc.SERVER_ADDRESS: "127.0.0.1",
        sc.SERVER_PORT: fake_llm.port,
        sc.GEN_AI_RESPONSE_MODEL: "text-embedding-3-small",
        sc.GEN_AI_USAGE_INPUT_TOKENS: result.usage.prompt_tokens,
        sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT: 8,
    }  # no content: neither the input texts nor the vectors


def test_embeddings_encoding_and_dimensions(instrumented, client, span_exporter):
    result = client.embeddings.create(model="m", input="hi", dimensions=4, encoding_format="base64")
    assert isinstance(result.data[0].embedding, str)  # asked for base64: the SDK leaves it so
    span = only_span(span_exporter)
    assert span.attributes[sc.GEN_AI_REQUEST_ENCODING_FORMATS] == ("base64",)
    assert span.attributes[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] == 4


def test_async_embeddings_and_errors(instrumented, fake_llm, span_exporter):
    async def main() -> int:
        async with openai.AsyncOpenAI(base_url=fake_llm.base_url, api_key="k", max_retries=0) as c:
            result = await c.embeddings.create(model="m", input="hi", encoding_format="float")
            with pytest.raises(openai.InternalServerError):
                await c.embeddings.create(model="fake-error", input="hi")
            return len(result.data[0].embedding)

    assert asyncio.run(main()) == 8
    ok, failed = span_exporter.get_finished_spans()
    assert ok.attributes[sc.GEN_AI_REQUEST_ENCODING_FORMATS] == ("float",)
    assert failed.status.status_code is StatusCode.ERROR and failed.attributes[sc.ERROR_TYPE] == "500"


def test_embeddings_metrics(tracer_provider: TracerProvider, client):
    reader = InMemoryMetricReader()
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(
        tracer_provider=tracer_provider, meter_provider=MeterProvider(metric_readers=[reader])
    )
    try:
        result = client.embeddings.create(model="m", input="hello there")
    finally:
        instrumentor.uninstrument()
    found = {
        metric.name: list(metric.data.data_points)
        for rm in reader.get_metrics_data().resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
    }
    [duration] = found[sc.GEN_AI_CLIENT_OPERATION_DURATION]
    assert duration.attributes[sc.GEN_AI_OPERATION_NAME] == "embeddings"
    [tokens] = found[sc.GEN_AI_CLIENT_TOKEN_USAGE]  # input only: embeddings produce no tokens
    assert tokens.attributes[sc.GEN_AI_TOKEN_TYPE] == "input"
    assert tokens.sum == result.usage.prompt_tokens


# --- legacy completions -------------------------------------------------------------------------


def test_text_completion_span(instrumented, client, span_exporter):
    result = client.completions.create(model="fake-chat", prompt="Say hi", max_tokens=20, temperature=0.5)
    assert result.choices[0].text == CHAT_ANSWER
    span = only_span(span_exporter)
    assert span.name == "text_completion fake-chat"
    assert span.attributes[sc.GEN_AI_OPERATION_NAME] == "text_completion"
    assert span.attributes[sc.GEN_AI_REQUEST_MAX_TOKENS] == 20
    assert span.attributes[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.5
    assert span.attributes[sc.GEN_AI_RESPONSE_ID] == result.id
    assert span.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert span.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == result.usage.prompt_tokens
    assert content(span, sc.GEN_AI_INPUT_MESSAGES) == [
        {"role": "user", "parts": [{"type": "text", "content": "Say hi"}]}
    ]
    assert content(span, sc.GEN_AI_OUTPUT_MESSAGES) == [
        {"role": "assistant", "parts": [{"type": "text", "content": CHAT_ANSWER}], "finish_reason": "stop"}
    ]


def test_text_completion_stream(instrumented, client, span_exporter):
    chunks = list(
        client.completions.create(
            model="fake-chat", prompt="Say hi", stream=True, stream_options={"include_usage": True}
        )
    )
    assert "".join(c.choices[0].text for c in chunks if c.choices) == CHAT_ANSWER
    span = only_span(span_exporter)
    assert span.attributes[sc.GEN_AI_REQUEST_STREAM] is True
    assert span.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == chunks[-1].usage.completion_tokens
    assert span.attributes[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    assert content(span, sc.GEN_AI_OUTPUT_MESSAGES) == [
        {"role": "assistant", "parts": [{"type": "text", "content": CHAT_ANSWER}], "finish_reason": "stop"}
    ]


def test_async_text_completion(instrumented, fake_llm, span_exporter):
    async def main() -> str:
        async with openai.AsyncOpenAI(base_url=fake_llm.base_url, api_key="k", max_retries=0) as c:
            stream = await c.completions.create(model="fake-chat", prompt=["a", "b"], stream=True)
            return "".join([c.choices[0].text async for c in stream if c.choices])

    assert asyncio.run(main()) == CHAT_ANSWER
    span = only_span(span_exporter)
    assert [m["parts"][0]["content"] for m in content(span, sc.GEN_AI_INPUT_MESSAGES)] == ["a", "b"]
    assert content(span, sc.GEN_AI_OUTPUT_MESSAGES)[0]["parts"][0]["content"] == CHAT_ANSWER


# --- provider naming ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "provider"),
    [
        ("api.openai.com", "openai"),
        ("my-resource.openai.azure.com", "azure.ai.openai"),
        ("api.deepseek.com", "deepseek"),
        ("api.groq.com", "groq"),
        ("API.Mistral.AI", "mistral_ai"),
        ("api.x.ai", "x_ai"),
        ("generativelanguage.googleapis.com", "gcp.gemini"),
        ("openrouter.ai", "openrouter"),
        ("api.together.xyz", "together"),
        ("api.fireworks.ai", "fireworks"),
        ("localhost", None),
        ("notapi.x.ai.example.com", None),
    ],
)
def test_provider_from_host(host, provider):
    assert provider_from_host(host) == provider


def test_provider_of_a_client():
    deepseek = openai.OpenAI(base_url="https://api.deepseek.com/v1", api_key="k")
    local = openai.OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="k")
    azure = openai.AzureOpenAI(
        azure_endpoint="https://proxy.example.com", api_key="k", api_version="2024-10-21"
    )
    assert provider_name(deepseek.chat.completions) == "deepseek"
    assert provider_name(local.responses) == "openai"  # a compatible server the table does not know
    assert provider_name(azure.embeddings) == "azure.ai.openai"  # whatever the host


def test_azure_client_span(instrumented, fake_llm, span_exporter):
    azure = openai.AzureOpenAI(
        base_url=fake_llm.base_url, api_key="k", api_version="2024-10-21", max_retries=0
    )
    # Azure routes by deployment (``/deployments/{model}/...``), which the fake does not serve.
    with pytest.raises(openai.NotFoundError):
        azure.chat.completions.create(model="fake-chat", messages=[{"role": "user", "content": "hi"}])
    span = only_span(span_exporter)
    assert span.attributes[sc.GEN_AI_PROVIDER_NAME] == "azure.ai.openai"
    assert span.attributes[sc.SERVER_ADDRESS] == "127.0.0.1"
    assert span.attributes[sc.ERROR_TYPE] == "404"
