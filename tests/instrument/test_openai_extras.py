"""The openai instrumentor's extras: GenAI client metrics, the redaction hook, logprobs / token ids."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
import types
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from trajotel import semconv as sc
from trajotel.instrument import genai
from trajotel.instrument.metrics import DURATION_BUCKETS, TOKEN_USAGE_BUCKETS
from trajotel.instrument.openai import OpenAIInstrumentor
from trajotel.testing import FakeLLMServer

from tests.support.metric_points import points

HELLO = [{"role": "user", "content": "hi"}]


@pytest.fixture
def metric_reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def metered(
    tracer_provider: TracerProvider, metric_reader: InMemoryMetricReader, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    monkeypatch.delenv(sc.ENV_CAPTURE_MESSAGE_CONTENT, raising=False)
    monkeypatch.delenv(sc.ENV_REDACT, raising=False)
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(
        tracer_provider=tracer_provider, meter_provider=MeterProvider(metric_readers=[metric_reader])
    )
    yield
    instrumentor.uninstrument()


def metric_unit(reader: InMemoryMetricReader, name: str) -> str | None:
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if metric.name == name:
                    return metric.unit
    return None


def only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    spans = exporter.get_finished_spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def expected_attributes(llm: FakeLLMServer, model: str = "fake-chat") -> dict[str, Any]:
    return {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.GEN_AI_REQUEST_MODEL: model,
        sc.GEN_AI_RESPONSE_MODEL: model,
        sc.SERVER_ADDRESS: "127.0.0.1",
        sc.SERVER_PORT: llm.port,
    }


def assert_usage_metrics(reader: InMemoryMetricReader, llm: FakeLLMServer, usage: Any) -> None:
    tokens = {p.attributes[sc.GEN_AI_TOKEN_TYPE]: p for p in points(reader, sc.GEN_AI_CLIENT_TOKEN_USAGE)}
    assert set(tokens) == {"input", "output"}
    for token_type, value in (("input", usage.prompt_tokens), ("output", usage.completion_tokens)):
        point = tokens[token_type]
        assert point.count == 1 and point.sum == value
        assert dict(point.attributes) == {**expected_attributes(llm), sc.GEN_AI_TOKEN_TYPE: token_type}
        assert tuple(point.explicit_bounds) == TOKEN_USAGE_BUCKETS
    [duration] = points(reader, sc.GEN_AI_CLIENT_OPERATION_DURATION)
    assert duration.count == 1 and 0 < duration.sum < 30
    assert dict(duration.attributes) == expected_attributes(llm)
    assert tuple(duration.explicit_bounds) == DURATION_BUCKETS
    assert metric_unit(reader, sc.GEN_AI_CLIENT_TOKEN_USAGE) == "{token}"
    assert metric_unit(reader, sc.GEN_AI_CLIENT_OPERATION_DURATION) == "s"


# --- metrics ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("metered")
def test_metrics_of_a_sync_call(
    client: openai.OpenAI, fake_llm: FakeLLMServer, metric_reader: InMemoryMetricReader
) -> None:
    response = client.chat.completions.create(model="fake-chat", messages=HELLO)
    assert response.usage is not None
    assert_usage_metrics(metric_reader, fake_llm, response.usage)


@pytest.mark.usefixtures("metered")
def test_metrics_of_an_async_call(fake_llm: FakeLLMServer, metric_reader: InMemoryMetricReader) -> None:
    async def run() -> Any:
        async with openai.AsyncOpenAI(base_url=fake_llm.base_url, api_key="k", max_retries=0) as c:
            return await c.chat.completions.create(model="fake-chat", messages=HELLO)

    response = asyncio.run(run())
    assert_usage_metrics(metric_reader, fake_llm, response.usage)


@pytest.mark.usefixtures("metered")
def test_metrics_of_a_stream_are_recorded_when_it_ends(
    client: openai.OpenAI, fake_llm: FakeLLMServer, metric_reader: InMemoryMetricReader
) -> None:
    stream = client.chat.completions.create(
        model="fake-chat", messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    assert points(metric_reader, sc.GEN_AI_CLIENT_OPERATION_DURATION) == []
    usage = [chunk.usage for chunk in stream if chunk.usage is not None][-1]
    assert_usage_metrics(metric_reader, fake_llm, usage)


@pytest.mark.usefixtures("metered")
def test_metrics_of_an_async_stream(fake_llm: FakeLLMServer, metric_reader: InMemoryMetricReader) -> None:
    async def run() -> Any:
        async with openai.AsyncOpenAI(base_url=fake_llm.base_url, api_key="k", max_retries=0) as c:
            stream = await c.chat.completions.create(
                model="fake-chat", messages=HELLO, stream=True, stream_options={"include_usage": True}
            )
            return [chunk.usage async for chunk in stream if chunk.usage is not None][-1]

    assert_usage_metrics(metric_reader, fake_llm, asyncio.run(run()))


@pytest.mark.usefixtures("metered")
def test_a_stream_without_usage_records_only_the_duration(
    client: openai.OpenAI, metric_reader: InMemoryMetricReader
) -> None:
    list(client.chat.completions.create(model="fake-chat", messages=HELLO, stream=True))
    assert points(metric_reader, sc.GEN_AI_CLIENT_TOKEN_USAGE) == []
    [duration] = points(metric_reader, sc.GEN_AI_CLIENT_OPERATION_DURATION)
    assert duration.attributes[sc.GEN_AI_RESPONSE_MODEL] == "fake-chat"


@pytest.mark.usefixtures("metered")
def test_a_failed_call_records_its_duration_with_error_type(
    client: openai.OpenAI, fake_llm: FakeLLMServer, metric_reader: InMemoryMetricReader
) -> None:
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="fake-error", messages=HELLO)
    assert points(metric_reader, sc.GEN_AI_CLIENT_TOKEN_USAGE) == []
    [duration] = points(metric_reader, sc.GEN_AI_CLIENT_OPERATION_DURATION)
    assert dict(duration.attributes) == {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.GEN_AI_REQUEST_MODEL: "fake-error",
        sc.SERVER_ADDRESS: "127.0.0.1",
        sc.SERVER_PORT: fake_llm.port,
        sc.ERROR_TYPE: "500",
    }


@pytest.mark.usefixtures("metered")
def test_a_broken_meter_never_breaks_the_call(
    client: openai.OpenAI,
    metric_reader: InMemoryMetricReader,
    span_exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from trajotel.instrument.metrics import GenAIClientMetrics

    def boom(*args: Any) -> None:
        raise RuntimeError("meter is broken")

    monkeypatch.setattr(GenAIClientMetrics, "_record", boom)
    response = client.chat.completions.create(model="fake-chat", messages=HELLO)
    assert response.choices[0].message.content
    assert only_span(span_exporter).attributes[sc.GEN_AI_RESPONSE_MODEL] == "fake-chat"


# --- redaction hook --------------------------------------------------------------------------

HOOKS_MODULE = "trajotel_test_redaction_hooks"
EMAIL_MESSAGES = [{"role": "user", "content": "Mail bob@example.com the weather report."}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "send_mail",
            "description": "Send a mail to alice@example.com.",
            "parameters": {"type": "object", "properties": {"to": {"type": "string"}}},
        },
    }
]


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return re.sub(r"[\w.]+@\w+(?:\.\w+)+", "<email>", value)
    if isinstance(value, list):
        return [_mask(item) for item in value]
    if isinstance(value, dict):
        return {key: _mask(item) for key, item in value.items()}
    return value


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """A module of redaction hooks, importable by name; the hook cache starts empty."""
    module = types.ModuleType(HOOKS_MODULE)
    module.seen = []  # type: ignore[attr-defined]

    def mask_emails(content: dict[str, Any]) -> dict[str, Any]:
        module.seen.append(sorted(content))  # type: ignore[attr-defined]
        masked: dict[str, Any] = _mask(content)
        return masked

    def explode(content: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("redaction failed")

    def vandal(content: dict[str, Any]) -> dict[str, Any]:
        # Mutates what it was given: the caller's own objects must not change.
        for definition in content.get("tool_definitions", []):
            definition["parameters"]["properties"].clear()
        return content

    module.mask_emails = mask_emails  # type: ignore[attr-defined]
    module.explode = explode  # type: ignore[attr-defined]
    module.vandal = vandal  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, HOOKS_MODULE, module)
    monkeypatch.setattr(genai, "_hooks", {})
    return module


@pytest.fixture
def instrumented_with_redaction(
    tracer_provider: TracerProvider, monkeypatch: pytest.MonkeyPatch
) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.delenv(sc.ENV_CAPTURE_MESSAGE_CONTENT, raising=False)
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    yield monkeypatch
    instrumentor.uninstrument()


def test_a_hook_that_masks_emails_changes_the_recorded_content(
    hooks: types.ModuleType,
    instrumented_with_redaction: pytest.MonkeyPatch,
    client: openai.OpenAI,
    span_exporter: InMemorySpanExporter,
) -> None:
    instrumented_with_redaction.setenv(sc.ENV_REDACT, f"{HOOKS_MODULE}:mask_emails")
    response = client.chat.completions.create(model="fake-chat", messages=EMAIL_MESSAGES, tools=TOOLS)
    assert response.choices[0].message.content == "Hello! I am a fake LLM."
    span = only_span(span_exporter)
    recorded = json.loads(span.attributes[sc.GEN_AI_INPUT_MESSAGES])
    assert recorded == [
        {"role": "user", "parts": [{"type": "text", "content": "Mail <email> the weather report."}]}
    ]
    definitions = json.loads(span.attributes[sc.GEN_AI_TOOL_DEFINITIONS])
    assert definitions[0]["description"] == "Send a mail to <email>."
    output = json.loads(span.attributes[sc.GEN_AI_OUTPUT_MESSAGES])
    assert output[0]["parts"] == [{"type": "text", "content": "Hello! I am a fake LLM."}]
    assert hooks.seen == [["input_messages", "tool_definitions"], ["output_messages"]]
    assert "example.com" not in json.dumps(dict(span.attributes))
    # The request itself went out unredacted.
    assert TOOLS[0]["function"]["description"] == "Send a mail to alice@example.com."  # type: ignore[index]


def test_a_raising_hook_records_no_content(
    hooks: types.ModuleType,
    instrumented_with_redaction: pytest.MonkeyPatch,
    client: openai.OpenAI,
    span_exporter: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    instrumented_with_redaction.setenv(sc.ENV_REDACT, f"{HOOKS_MODULE}:explode")
    with caplog.at_level(logging.WARNING, logger="trajotel"):
        response = client.chat.completions.create(model="fake-chat", messages=EMAIL_MESSAGES, tools=TOOLS)
    assert response.choices[0].message.content == "Hello! I am a fake LLM."
    attributes = dict(only_span(span_exporter).attributes or {})
    assert not set(sc.CONTENT_ATTRIBUTES) & set(attributes)
    assert attributes[sc.GEN_AI_RESPONSE_MODEL] == "fake-chat"
    assert "redaction hook" in caplog.text and "raised" in caplog.text


def test_a_bad_hook_path_logs_an_error_naming_the_variable(
    hooks: types.ModuleType,
    instrumented_with_redaction: pytest.MonkeyPatch,
    client: openai.OpenAI,
    span_exporter: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    instrumented_with_redaction.setenv(sc.ENV_REDACT, "no_such_module_xyz:redact")
    with caplog.at_level(logging.ERROR, logger="trajotel"):
        for _ in range(2):
            client.chat.completions.create(model="fake-chat", messages=EMAIL_MESSAGES)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1  # loaded (and failed) once
    assert sc.ENV_REDACT in errors[0].getMessage() and "no_such_module_xyz:redact" in errors[0].getMessage()
    for span in span_exporter.get_finished_spans():
        assert not set(sc.CONTENT_ATTRIBUTES) & set(span.attributes or {})


def test_a_hook_that_mutates_its_input_leaves_the_callers_objects_alone(
    hooks: types.ModuleType,
    instrumented_with_redaction: pytest.MonkeyPatch,
    client: openai.OpenAI,
    span_exporter: InMemorySpanExporter,
) -> None:
    instrumented_with_redaction.setenv(sc.ENV_REDACT, f"{HOOKS_MODULE}:vandal")
    client.chat.completions.create(model="fake-chat", messages=HELLO, tools=TOOLS)
    assert TOOLS[0]["function"]["parameters"]["properties"] == {"to": {"type": "string"}}  # type: ignore[index]
    definitions = json.loads(only_span(span_exporter).attributes[sc.GEN_AI_TOOL_DEFINITIONS])
    assert definitions[0]["parameters"]["properties"] == {}


# --- logprobs and token ids ------------------------------------------------------------------

CHAT_TOKENS = ["Hello! ", "I ", "am ", "a ", "fake ", "LLM."]


@pytest.mark.usefixtures("instrumented")
def test_logprobs_and_tokens_are_recorded_when_requested(
    client: openai.OpenAI, span_exporter: InMemorySpanExporter
) -> None:
    response = client.chat.completions.create(model="fake-chat", messages=HELLO, logprobs=True)
    logprobs = response.choices[0].logprobs
    assert logprobs is not None and logprobs.content
    attributes = only_span(span_exporter).attributes or {}
    assert json.loads(attributes[sc.TRAJOTEL_OUTPUT_TOKENS]) == CHAT_TOKENS
    assert json.loads(attributes[sc.TRAJOTEL_OUTPUT_LOGPROBS]) == [e.logprob for e in logprobs.content]
    assert json.loads(attributes[sc.TRAJOTEL_OUTPUT_LOGPROBS]) == [-0.01, -0.02, -0.03, -0.04, -0.05, -0.06]
    assert sc.TRAJOTEL_OUTPUT_TOKEN_IDS not in attributes


@pytest.mark.usefixtures("instrumented")
def test_nothing_per_token_is_recorded_unless_requested(
    client: openai.OpenAI, span_exporter: InMemorySpanExporter
) -> None:
    client.chat.completions.create(model="fake-chat", messages=HELLO)
    attributes = only_span(span_exporter).attributes or {}
    assert not [key for key in attributes if key.startswith(("trajotel.output.", "trajotel.prompt."))]


@pytest.mark.usefixtures("instrumented")
def test_token_ids_are_recorded_when_the_server_returns_them(
    client: openai.OpenAI, span_exporter: InMemorySpanExporter
) -> None:
    response = client.chat.completions.create(
        model="fake-chat", messages=HELLO, extra_body={"return_token_ids": True}
    )
    assert response.usage is not None
    attributes = only_span(span_exporter).attributes or {}
    prompt_ids = json.loads(attributes[sc.TRAJOTEL_PROMPT_TOKEN_IDS])
    output_ids = json.loads(attributes[sc.TRAJOTEL_OUTPUT_TOKEN_IDS])
    assert prompt_ids == [1000 + i for i in range(response.usage.prompt_tokens)]
    assert output_ids == [2000 + i for i in range(response.usage.completion_tokens)]
    assert sc.TRAJOTEL_OUTPUT_LOGPROBS not in attributes


@pytest.mark.usefixtures("instrumented")
def test_token_content_follows_the_capture_mode_and_redaction(
    client: openai.OpenAI,
    span_exporter: InMemorySpanExporter,
    hooks: types.ModuleType,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    request: dict[str, Any] = {
        "model": "fake-chat",
        "messages": HELLO,
        "logprobs": True,
        "extra_body": {"return_token_ids": True},
    }
    monkeypatch.setenv(sc.ENV_CAPTURE_MESSAGE_CONTENT, "NO_CONTENT")
    client.chat.completions.create(**request)
    monkeypatch.setenv(sc.ENV_CAPTURE_MESSAGE_CONTENT, "SPAN_ONLY")
    monkeypatch.setenv(sc.ENV_REDACT, f"{HOOKS_MODULE}:mask_emails")
    client.chat.completions.create(**request)
    for span in span_exporter.get_finished_spans():
        attributes = span.attributes or {}
        # Logprobs hold no content; tokens and ids are the content itself.
        assert len(json.loads(attributes[sc.TRAJOTEL_OUTPUT_LOGPROBS])) == len(CHAT_TOKENS)
        for key in (sc.TRAJOTEL_OUTPUT_TOKENS, sc.TRAJOTEL_PROMPT_TOKEN_IDS, sc.TRAJOTEL_OUTPUT_TOKEN_IDS):
            assert key not in attributes


@pytest.mark.usefixtures("instrumented")
def test_a_stream_records_logprobs_tokens_and_token_ids(
    client: openai.OpenAI, span_exporter: InMemorySpanExporter
) -> None:
    chunks = list(
        client.chat.completions.create(
            model="fake-chat",
            messages=HELLO,
            stream=True,
            logprobs=True,
            stream_options={"include_usage": True},
            extra_body={"return_token_ids": True},
        )
    )
    usage = chunks[-1].usage
    assert usage is not None
    attributes = only_span(span_exporter).attributes or {}
    assert json.loads(attributes[sc.TRAJOTEL_OUTPUT_TOKENS]) == CHAT_TOKENS
    assert json.loads(attributes[sc.TRAJOTEL_OUTPUT_LOGPROBS]) == [-0.01, -0.02, -0.03, -0.04, -0.05, -0.06]
    assert json.loads(attributes[sc.TRAJOTEL_PROMPT_TOKEN_IDS]) == [
        1000 + i for i in range(usage.prompt_tokens)
    ]
    assert json.loads(attributes[sc.TRAJOTEL_OUTPUT_TOKEN_IDS]) == [
        2000 + i for i in range(usage.completion_tokens)
    ]


@pytest.mark.usefixtures("instrumented")
def test_a_stream_without_content_capture_records_only_logprobs(
    client: openai.OpenAI, span_exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(sc.ENV_CAPTURE_MESSAGE_CONTENT, "NO_CONTENT")
    stream = client.chat.completions.create(
        model="fake-chat",
        messages=HELLO,
        stream=True,
        logprobs=True,
        extra_body={"return_token_ids": True},
    )
    for _ in stream:
        pass
    attributes = only_span(span_exporter).attributes or {}
    assert json.loads(attributes[sc.TRAJOTEL_OUTPUT_LOGPROBS]) == [-0.01, -0.02, -0.03, -0.04, -0.05, -0.06]
    for key in (sc.TRAJOTEL_OUTPUT_TOKENS, sc.TRAJOTEL_PROMPT_TOKEN_IDS, sc.TRAJOTEL_OUTPUT_TOKEN_IDS):
        assert key not in attributes
