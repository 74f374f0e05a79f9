"""The Responses API (create, stream, parse; sync and async; raw) against the real SDK."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai.types.responses import Response
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import BaseModel

from trajotel import semconv as sc
from trajotel.instrument.openai import OpenAIInstrumentor
from trajotel.testing import FakeLLMServer, Step

TASK = "What is the weather in Paris, and what is 21 + 21?"
FINAL_ANSWER = "It is sunny and 22 C in Paris, and 21 + 21 = 42."
CHAT_ANSWER = "Hello! I am a fake LLM."
WEATHER_JSON = '{"city":"Paris","temperature_c":22}'
TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
    {"type": "function", "name": "add", "parameters": {"type": "object", "properties": {}}},
]
RESULTS = {"get_weather": "sunny, 22 C", "add": "42"}


class Weather(BaseModel):
    city: str
    temperature_c: int


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLMServer]:
    scenarios = {
        "fake-json": [Step.text(WEATHER_JSON)],
        "fake-think": [Step(content="4", reasoning="2 + 2 is 4.")],
        "fake-cut": [Step(content="It was a dark and", finish_reason="length")],
    }
    with FakeLLMServer(scenarios=scenarios) as server:
        yield server


@pytest.fixture
def client(llm: FakeLLMServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=llm.base_url, api_key="test-key", max_retries=0) as c:
        yield c


@pytest.fixture(autouse=True)
def no_context_or_double_end_errors(caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.WARNING):
        yield
    messages = [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if "Failed to detach context" in m or "on an ended span" in m]
    assert not [m for m in messages if "trajotel" in m], messages  # no instrumentation step failed


def only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    spans = exporter.get_finished_spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def content(span: ReadableSpan, key: str) -> Any:
    return json.loads(span.attributes[key])


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "content": value}


def run_tool_loop(client: openai.OpenAI, stream: bool) -> list[Response]:
    """The default scenario as an agent runs it: input items grow with each turn's output."""
    items: list[Any] = [{"role": "user", "content": TASK}]
    responses = []
    for _ in range(3):
        kwargs = {"model": "gpt-4o-mini", "instructions": "Be brief.", "input": items, "tools": TOOLS}
        if stream:
            with client.responses.stream(**kwargs) as events:
                response = events.get_final_response()
        else:
            response = client.responses.create(**kwargs)
        responses.append(response)
        items += [item.model_dump(exclude_none=True) for item in response.output]
        for call in (item for item in response.output if item.type == "function_call"):
            items.append(
                {"type": "function_call_output", "call_id": call.call_id, "output": RESULTS[call.name]}
            )
    return responses


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
def test_tool_loop_spans(instrumented, client, span_exporter, llm, stream):
    responses = run_tool_loop(client, stream)
    assert responses[-1].output_text == FINAL_ANSWER
    spans = span_exporter.get_finished_spans()
    assert [s.name for s in spans] == ["chat gpt-4o-mini"] * 3
    first_call = responses[0].output[0]
    second_call = responses[1].output[0]
    for span, response in zip(spans, responses, strict=True):
        assert span.kind is SpanKind.CLIENT and span.status.status_code is StatusCode.UNSET
        usage = response.usage
        expected = {
            sc.GEN_AI_OPERATION_NAME: "chat",
            sc.GEN_AI_PROVIDER_NAME: "openai",
            sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
            sc.OPENAI_API_TYPE: "responses",
            sc.SERVER_ADDRESS: "127.0.0.1",
            sc.SERVER_PORT: llm.port,
            sc.GEN_AI_RESPONSE_ID: response.id,
            sc.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini",
            sc.OPENAI_RESPONSE_SERVICE_TIER: "default",
            sc.GEN_AI_USAGE_INPUT_TOKENS: usage.input_tokens,
            sc.GEN_AI_USAGE_OUTPUT_TOKENS: usage.output_tokens,
            sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: usage.input_tokens_details.cached_tokens,
            sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: usage.output_tokens_details.reasoning_tokens,
        }
        attributes = {k: v for k, v in span.attributes.items() if k not in sc.CONTENT_ATTRIBUTES}
        attributes.pop(sc.GEN_AI_RESPONSE_FINISH_REASONS)
        if stream:
            assert attributes.pop(sc.GEN_AI_REQUEST_STREAM) is True
            assert attributes.pop(sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK) > 0
        assert attributes == expected
        assert content(span, sc.GEN_AI_SYSTEM_INSTRUCTIONS) == [text("Be brief.")]
        definitions = content(span, sc.GEN_AI_TOOL_DEFINITIONS)
        assert [d["name"] for d in definitions] == ["get_weather", "add"]
        assert definitions[0]["description"] == "Current weather in a city."
    assert [s.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] for s in spans] == [
        ("tool_call",),
        ("tool_call",),
        ("stop",),
    ]
    assert content(spans[0], sc.GEN_AI_OUTPUT_MESSAGES) == [
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": first_call.call_id,
                    "name": "get_weather",
                    "arguments": {"city": "Paris"},
                }
            ],
            "finish_reason": "tool_call",
        }
    ]
    # The last call's input: the task, each call (by call_id) and each result, in order.
    assert content(spans[2], sc.GEN_AI_INPUT_MESSAGES) == [
        {"role": "user", "parts": [text(TASK)]},
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": first_call.call_id,
                    "name": "get_weather",
                    "arguments": {"city": "Paris"},
                }
            ],
        },
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": first_call.call_id, "response": "sunny, 22 C"}],
        },
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": second_call.call_id,
                    "name": "add",
                    "arguments": {"a": 21, "b": 21},
                }
            ],
        },
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": second_call.call_id, "response": "42"}],
        },
    ]
    assert content(spans[2], sc.GEN_AI_OUTPUT_MESSAGES) == [
        {"role": "assistant", "parts": [text(FINAL_ANSWER)], "finish_reason": "stop"}
    ]


def test_reasoning_and_string_input(instrumented, client, span_exporter):
    response = client.responses.create(model="fake-think", input="2 + 2?")
    assert response.output_text == "4"
    span = only_span(span_exporter)
    assert content(span, sc.GEN_AI_INPUT_MESSAGES) == [{"role": "user", "parts": [text("2 + 2?")]}]
    assert content(span, sc.GEN_AI_OUTPUT_MESSAGES)[0]["parts"] == [
        {"type": "reasoning", "content": "2 + 2 is 4."},
        text("4"),
    ]
    assert sc.GEN_AI_SYSTEM_INSTRUCTIONS not in span.attributes


def test_reasoning_items_sent_back_join_the_assistant_message(instrumented, client, span_exporter):
    first = client.responses.create(model="fake-think", input="2 + 2?")
    items = [{"role": "user", "content": "2 + 2?"}, *(i.model_dump(exclude_none=True) for i in first.output)]
    client.responses.create(model="fake-think", input=[*items, {"role": "user", "content": "thanks"}])
    second = span_exporter.get_finished_spans()[1]
    assert content(second, sc.GEN_AI_INPUT_MESSAGES) == [
        {"role": "user", "parts": [text("2 + 2?")]},
        {"role": "assistant", "parts": [{"type": "reasoning", "content": "2 + 2 is 4."}, text("4")]},
        {"role": "user", "parts": [text("thanks")]},
    ]


def test_incomplete_response_finishes_with_length(instrumented, client, span_exporter):
    response = client.responses.create(model="fake-cut", input="a story", max_output_tokens=5)
    assert response.status == "incomplete"
    span = only_span(span_exporter)
    assert span.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("length",)
    assert span.attributes[sc.GEN_AI_REQUEST_MAX_TOKENS] == 5
    assert content(span, sc.GEN_AI_OUTPUT_MESSAGES)[0]["finish_reason"] == "length"


def test_request_parameters(instrumented, client, span_exporter):
    client.responses.create(
        model="fake-chat",
        input="hi",
        temperature=0.2,
        top_p=0.9,
        service_tier="default",
        previous_response_id="resp_earlier",
        text={"format": {"type": "json_object"}},
    )
    span = only_span(span_exporter)
    assert span.attributes[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.2
    assert span.attributes[sc.GEN_AI_REQUEST_TOP_P] == 0.9
    assert span.attributes[sc.OPENAI_REQUEST_SERVICE_TIER] == "default"
    assert span.attributes[sc.GEN_AI_REQUEST_PREVIOUS_RESPONSE_ID] == "resp_earlier"
    assert span.attributes[sc.GEN_AI_OUTPUT_TYPE] == "json"


def test_parse_is_one_span_with_json_output(instrumented, client, span_exporter):
    parsed = client.responses.parse(model="fake-json", input="weather?", text_format=Weather)
    assert parsed.output_parsed == Weather(city="Paris", temperature_c=22)
    span = only_span(span_exporter)
    assert span.name == "chat fake-json"
    assert span.attributes[sc.GEN_AI_OUTPUT_TYPE] == "json"
    assert content(span, sc.GEN_AI_OUTPUT_MESSAGES)[0]["parts"] == [text(WEATHER_JSON)]


def test_created_stream_records_the_assembled_response(instrumented, client, span_exporter):
    events = list(client.responses.create(model="fake-think", input="2 + 2?", stream=True))
    assert events[-1].type == "response.completed"
    span = only_span(span_exporter)
    assert span.attributes[sc.GEN_AI_RESPONSE_ID] == events[-1].response.id
    assert span.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == events[-1].response.usage.output_tokens
    assert content(span, sc.GEN_AI_OUTPUT_MESSAGES)[0]["parts"][0]["type"] == "reasoning"


def test_stream_cut_short_keeps_what_arrived(instrumented, client, span_exporter):
    stream = client.responses.create(model="gpt-4o-mini", input=TASK, tools=TOOLS, stream=True)
    for event in stream:
        if event.type == "response.function_call_arguments.delta":
            break
    stream.close()
    span = only_span(span_exporter)
    assert span.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("error",)  # never completed
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in span.attributes  # unknown, not 0
    [part] = content(span, sc.GEN_AI_OUTPUT_MESSAGES)[0]["parts"]
    assert part["type"] == "tool_call" and part["name"] == "get_weather"
    assert part["arguments"] == '{"city":'  # the first delta, kept as the raw string


def test_stream_helper_left_early_ends_its_span(instrumented, client, span_exporter):
    with client.responses.stream(model="fake-chat", input="hi") as events:
        for event in events:
            if event.type == "response.output_text.delta":
                break
        assert span_exporter.get_finished_spans() == ()
    span = only_span(span_exporter)  # ended with the with block, not by garbage collection
    assert content(span, sc.GEN_AI_OUTPUT_MESSAGES)[0]["parts"] == [text("Hello! ")]


def test_failed_call(instrumented, client, span_exporter):
    with pytest.raises(openai.InternalServerError):
        client.responses.create(model="fake-error", input="hi")
    span = only_span(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == "500"


def test_with_raw_response(instrumented, client, span_exporter):
    raw = client.responses.with_raw_response.create(model="fake-chat", input="hi")
    response = raw.parse()
    assert response.output_text == CHAT_ANSWER
    span = only_span(span_exporter)
    assert span.attributes[sc.GEN_AI_RESPONSE_ID] == response.id
    assert content(span, sc.GEN_AI_OUTPUT_MESSAGES)[0]["parts"] == [text(CHAT_ANSWER)]


def test_async_create_stream_and_parse(instrumented, llm, span_exporter):
    async def main() -> tuple[str, str, Weather | None]:
        async with openai.AsyncOpenAI(base_url=llm.base_url, api_key="k", max_retries=0) as c:
            created = await c.responses.create(model="fake-chat", input="hi")
            async with c.responses.stream(model="fake-think", input="2 + 2?") as events:
                streamed = await events.get_final_response()
            parsed = await c.responses.parse(model="fake-json", input="w", text_format=Weather)
            return created.output_text, streamed.output_text, parsed.output_parsed

    assert asyncio.run(main()) == (CHAT_ANSWER, "4", Weather(city="Paris", temperature_c=22))
    spans = span_exporter.get_finished_spans()
    assert [s.name for s in spans] == ["chat fake-chat", "chat fake-think", "chat fake-json"]
    assert all(s.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] > 0 for s in spans)
    assert spans[1].attributes[sc.GEN_AI_REQUEST_STREAM] is True


def test_content_off(instrumented, client, span_exporter, monkeypatch):
    monkeypatch.setenv(sc.ENV_CAPTURE_MESSAGE_CONTENT, "NO_CONTENT")
    list(client.responses.create(model="gpt-4o-mini", instructions="x", input=TASK, tools=TOOLS, stream=True))
    span = only_span(span_exporter)
    assert not set(sc.CONTENT_ATTRIBUTES) & set(span.attributes)
    assert span.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_call",)  # from the final event
    assert span.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] > 0


def test_metrics(tracer_provider: TracerProvider, client, llm, monkeypatch):
    reader = InMemoryMetricReader()
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(
        tracer_provider=tracer_provider, meter_provider=MeterProvider(metric_readers=[reader])
    )
    try:
        response = client.responses.create(model="fake-chat", input="hi")
        list(client.responses.create(model="fake-chat", input="hi", stream=True))
    finally:
        instrumentor.uninstrument()
    found = {
        metric.name: metric.data.data_points
        for rm in reader.get_metrics_data().resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
    }
    [duration] = found[sc.GEN_AI_CLIENT_OPERATION_DURATION]
    assert duration.count == 2
    assert duration.attributes[sc.GEN_AI_RESPONSE_MODEL] == "fake-chat"
    tokens = {p.attributes[sc.GEN_AI_TOKEN_TYPE]: p for p in found[sc.GEN_AI_CLIENT_TOKEN_USAGE]}
    assert tokens["input"].count == 2 and tokens["input"].sum == 2 * response.usage.input_tokens
    assert tokens["output"].sum == 2 * response.usage.output_tokens
