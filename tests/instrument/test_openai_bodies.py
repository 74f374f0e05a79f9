"""Raw bodies (``with_streaming_response``, raw streams) and chat ``parse`` / ``stream`` helpers."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel

from trajotel import semconv as sc
from trajotel.testing import FakeLLMServer, Step

HELLO = [{"role": "user", "content": "hi"}]
CHAT_ANSWER = "Hello! I am a fake LLM."
TOOLS = [
    {
        "type": "function",
        "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
    }
]


@pytest.fixture(autouse=True)
def no_context_or_double_end_errors(caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.WARNING):
        yield
    messages = [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if "Failed to detach context" in m or "on an ended span" in m]
    assert not [m for m in messages if "trajotel" in m], messages


def only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    spans = exporter.get_finished_spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def output_parts(span: ReadableSpan) -> list[dict[str, Any]]:
    return json.loads(span.attributes[sc.GEN_AI_OUTPUT_MESSAGES])[0]["parts"]


ANSWER_PARTS = [{"type": "text", "content": CHAT_ANSWER}]


# --- with_streaming_response ------------------------------------------------------------------


@pytest.mark.parametrize("read", ["parse", "read", "text", "json"])
def test_streaming_response_records_the_body_when_read(instrumented, client, span_exporter, read):
    with client.chat.completions.with_streaming_response.create(
        model="fake-chat", messages=HELLO
    ) as response:
        assert span_exporter.get_finished_spans() == ()  # the body is not read yet
        assert response.headers["x-request-id"].startswith("req_fk")
        getattr(response, read)()
        span = only_span(span_exporter)  # ended as soon as the body was read
    body = response.http_response.json()
    assert span.attributes[sc.GEN_AI_RESPONSE_ID] == body["id"]
    assert span.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == body["usage"]["completion_tokens"]
    assert output_parts(span) == ANSWER_PARTS


def test_streaming_response_never_read_ends_at_exit(instrumented, client, span_exporter):
    with client.chat.completions.with_streaming_response.create(model="fake-chat", messages=HELLO):
        assert span_exporter.get_finished_spans() == ()
    span = only_span(span_exporter)
    assert span.attributes[sc.GEN_AI_REQUEST_MODEL] == "fake-chat"
    assert sc.GEN_AI_RESPONSE_ID not in span.attributes  # nothing was read


def test_streaming_response_of_a_stream(instrumented, client, span_exporter):
    with client.chat.completions.with_streaming_response.create(
        model="fake-chat", messages=HELLO, stream=True, stream_options={"include_usage": True}
    ) as response:
        stream = response.parse()
        assert isinstance(stream, openai.Stream)
        chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == CHAT_ANSWER
    span = only_span(span_exporter)
    assert span.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == chunks[-1].usage.completion_tokens
    assert span.attributes[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    assert output_parts(span) == ANSWER_PARTS


def test_streaming_response_stream_left_early_ends_at_exit(instrumented, client, span_exporter):
    with client.chat.completions.with_streaming_response.create(
        model="fake-chat", messages=HELLO, stream=True
    ) as response:
        for _ in response.parse():
            break
        assert span_exporter.get_finished_spans() == ()
    assert only_span(span_exporter).end_time is not None


def test_streaming_response_of_the_responses_api(instrumented, client, span_exporter):
    with client.responses.with_streaming_response.create(model="fake-chat", input="hi") as response:
        parsed = response.parse()
    assert parsed.output_text == CHAT_ANSWER
    span = only_span(span_exporter)
    assert span.attributes[sc.GEN_AI_RESPONSE_ID] == parsed.id
    assert output_parts(span) == ANSWER_PARTS


def test_async_streaming_response(instrumented, fake_llm: FakeLLMServer, span_exporter):
    async def main() -> tuple[str, str]:
        async with openai.AsyncOpenAI(base_url=fake_llm.base_url, api_key="k", max_retries=0) as c:
            async with c.chat.completions.with_streaming_response.create(
                model="fake-chat", messages=HELLO
            ) as response:
                completion = await response.parse()
            async with c.chat.completions.with_streaming_response.create(
                model="fake-chat", messages=HELLO, stream=True
            ) as response:
                streamed = "".join([c.choices[0].delta.content or "" async for c in await response.parse()])
            async with c.chat.completions.with_streaming_response.create(model="fake-chat", messages=HELLO):
                pass  # never read
            return completion.choices[0].message.content, streamed

    assert asyncio.run(main()) == (CHAT_ANSWER, CHAT_ANSWER)
    first, second, unread = span_exporter.get_finished_spans()
    assert output_parts(first) == ANSWER_PARTS and output_parts(second) == ANSWER_PARTS
    assert sc.GEN_AI_RESPONSE_ID not in unread.attributes


def test_raw_stream_never_parsed_ends_when_collected(instrumented, client, span_exporter):
    raw = client.chat.completions.with_raw_response.create(model="fake-chat", messages=HELLO, stream=True)
    assert span_exporter.get_finished_spans() == ()
    raw.http_response.close()
    del raw
    gc.collect()
    assert only_span(span_exporter).end_time is not None


# --- chat.completions.parse / stream -------------------------------------------------------------


class Weather(BaseModel):
    city: str
    temperature_c: int


WEATHER_JSON = '{"city":"Paris","temperature_c":22}'


@pytest.fixture
def json_client() -> Iterator[openai.OpenAI]:
    with FakeLLMServer(scenarios={"fake-json": [Step.text(WEATHER_JSON)]}) as server:
        yield openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)


def test_chat_parse_is_one_span(instrumented, json_client, span_exporter):
    completion = json_client.chat.completions.parse(
        model="fake-json", messages=HELLO, response_format=Weather
    )
    assert completion.choices[0].message.parsed == Weather(city="Paris", temperature_c=22)
    span = only_span(span_exporter)
    assert span.name == "chat fake-json"
    assert span.attributes[sc.GEN_AI_OUTPUT_TYPE] == "json"
    assert span.attributes[sc.GEN_AI_RESPONSE_ID] == completion.id
    assert output_parts(span) == [{"type": "text", "content": WEATHER_JSON}]


def test_async_chat_parse_is_one_span(instrumented, fake_llm, span_exporter):
    async def main() -> Any:
        async with openai.AsyncOpenAI(base_url=fake_llm.base_url, api_key="k", max_retries=0) as c:
            return await c.chat.completions.parse(model="fake-chat", messages=HELLO)

    assert asyncio.run(main()).choices[0].message.content == CHAT_ANSWER
    assert output_parts(only_span(span_exporter)) == ANSWER_PARTS


def test_chat_stream_helper_left_early_ends_with_the_block(instrumented, client, span_exporter):
    with client.chat.completions.stream(model="fake-chat", messages=HELLO) as events:
        for event in events:
            if event.type == "content.delta" and event.delta:
                break
        assert span_exporter.get_finished_spans() == ()
    span = only_span(span_exporter)
    assert output_parts(span) == [{"type": "text", "content": "Hello! "}]


def test_async_chat_stream_helper_is_one_span(instrumented, fake_llm, span_exporter):
    async def main() -> Any:
        async with openai.AsyncOpenAI(base_url=fake_llm.base_url, api_key="k", max_retries=0) as c:
            manager = c.chat.completions.stream(model="gpt-4o-mini", messages=HELLO, tools=TOOLS)
            async with manager as events:
                return await events.get_final_completion()

    final = asyncio.run(main())
    assert final.choices[0].message.tool_calls[0].function.name == "get_weather"
    span = only_span(span_exporter)
    assert span.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_calls",)
    assert output_parts(span)[0]["type"] == "tool_call"
