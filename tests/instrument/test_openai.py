"""The openai instrumentor against the real SDK and the scripted fake server."""

from __future__ import annotations

import copy
import json
import os
import re
import socket
from typing import Any

import openai
import pytest
import wrapt
from openai._legacy_response import LegacyAPIResponse
from openai.resources.chat.completions import Completions
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from trajotel import semconv as sc
from trajotel.instrument import genai
from trajotel.instrument.openai import OpenAIInstrumentor, wrappers
from trajotel.testing import FakeLLMServer

SYSTEM = "You are a helpful assistant."
TASK = "What is the weather in Paris, and what is 21 + 21?"
FINAL_ANSWER = "It is sunny and 22 C in Paris, and 21 + 21 = 42."
CHAT_ANSWER = "Hello! I am a fake LLM."
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "add",
            "parameters": {
                "type": "object",
                "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
            },
        },
    },
]
TOOL_RESULTS = {"get_weather": {"condition": "sunny", "temperature_c": 22}, "add": {"result": 42}}
HELLO = [{"role": "user", "content": "hi"}]


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def content(span: ReadableSpan, key: str) -> Any:
    """A content attribute, parsed; it must be compact JSON."""
    raw = span.attributes[key]
    parsed = json.loads(raw)
    assert raw == compact(parsed)
    return parsed


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "content": value}


def only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    spans = exporter.get_finished_spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def run_tool_loop(client: openai.OpenAI) -> list[Any]:
    messages: list[Any] = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": TASK}]
    responses = []
    for turn in range(4):
        response = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=TOOLS)
        responses.append(response)
        message = response.choices[0].message
        if not message.tool_calls:
            break
        # Turn 0 hands the SDK's own (pydantic) message back; later turns use plain dicts.
        messages.append(message if turn == 0 else message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            result = json.dumps(TOOL_RESULTS[call.function.name])
            messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    return responses


# --- the full span ------------------------------------------------------------------------------


def test_tool_loop_spans(instrumented, client, span_exporter, fake_llm: FakeLLMServer):
    responses = run_tool_loop(client)
    spans = span_exporter.get_finished_spans()
    assert len(responses) == len(spans) == 3
    assert responses[-1].choices[0].message.content == FINAL_ANSWER

    id0 = responses[0].choices[0].message.tool_calls[0].id
    id1 = responses[1].choices[0].message.tool_calls[0].id
    assert re.fullmatch(r"call_fk0x0_[0-9a-f]{8}", id0)
    assert re.fullmatch(r"call_fk1x0_[0-9a-f]{8}", id1)
    call0 = {"type": "tool_call", "id": id0, "name": "get_weather", "arguments": {"city": "Paris"}}
    call1 = {"type": "tool_call", "id": id1, "name": "add", "arguments": {"a": 21, "b": 21}}

    def tool_result(call_id: str, name: str) -> dict[str, Any]:
        response = {"type": "tool_call_response", "id": call_id, "response": json.dumps(TOOL_RESULTS[name])}
        return {"role": "tool", "parts": [response]}

    history = [{"role": "system", "parts": [text(SYSTEM)]}, {"role": "user", "parts": [text(TASK)]}]
    turn1 = [{"role": "assistant", "parts": [call0]}, tool_result(id0, "get_weather")]
    turn2 = [{"role": "assistant", "parts": [call1]}, tool_result(id1, "add")]
    expected_inputs = [history, history + turn1, history + turn1 + turn2]
    expected_outputs = [
        [{"role": "assistant", "parts": [call0], "finish_reason": "tool_call"}],
        [{"role": "assistant", "parts": [call1], "finish_reason": "tool_call"}],
        [{"role": "assistant", "parts": [text(FINAL_ANSWER)], "finish_reason": "stop"}],
    ]
    expected_tools = [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Current weather in a city.",
            "parameters": TOOLS[0]["function"]["parameters"],
        },
        {"type": "function", "name": "add", "parameters": TOOLS[1]["function"]["parameters"]},
    ]

    for span, response, inputs, outputs in zip(
        spans, responses, expected_inputs, expected_outputs, strict=True
    ):
        usage = response.usage
        assert span.name == "chat gpt-4o-mini"
        assert span.kind is SpanKind.CLIENT
        assert span.status.status_code is StatusCode.UNSET
        attributes = {k: v for k, v in span.attributes.items() if k not in sc.CONTENT_ATTRIBUTES}
        assert attributes == {
            sc.GEN_AI_OPERATION_NAME: "chat",
            sc.GEN_AI_PROVIDER_NAME: "openai",
            sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
            sc.OPENAI_API_TYPE: "chat_completions",
            sc.SERVER_ADDRESS: "127.0.0.1",
            sc.SERVER_PORT: fake_llm.port,
            sc.GEN_AI_RESPONSE_ID: response.id,
            sc.GEN_AI_RESPONSE_MODEL: response.model,
            sc.GEN_AI_RESPONSE_FINISH_REASONS: (response.choices[0].finish_reason,),
            sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT: "fp_fakellm",
            sc.OPENAI_RESPONSE_SERVICE_TIER: "default",
            sc.GEN_AI_USAGE_INPUT_TOKENS: usage.prompt_tokens,
            sc.GEN_AI_USAGE_OUTPUT_TOKENS: usage.completion_tokens,
            sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: usage.prompt_tokens_details.cached_tokens,
            sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: usage.completion_tokens_details.reasoning_tokens,
        }
        assert content(span, sc.GEN_AI_INPUT_MESSAGES) == inputs
        assert content(span, sc.GEN_AI_OUTPUT_MESSAGES) == outputs
        assert content(span, sc.GEN_AI_TOOL_DEFINITIONS) == expected_tools
        assert sc.GEN_AI_SYSTEM_INSTRUCTIONS not in span.attributes
    assert [s.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] for s in spans] == [
        ("tool_calls",),
        ("tool_calls",),
        ("stop",),
    ]
    assert spans[1].attributes[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] > 0


def test_request_parameters(instrumented, client, span_exporter):
    response = client.chat.completions.create(
        model="fake-chat",
        messages=HELLO,
        max_completion_tokens=100,
        temperature=0.5,
        top_p=0.9,
        frequency_penalty=0.1,
        presence_penalty=0.2,
        stop="END",
        seed=7,
        n=2,
        response_format={"type": "json_object"},
        service_tier="flex",
    )
    span = only_span(span_exporter)
    assert {k: span.attributes.get(k) for k in _REQUEST_KEYS} == {
        sc.GEN_AI_REQUEST_MAX_TOKENS: 100,
        sc.GEN_AI_REQUEST_TEMPERATURE: 0.5,
        sc.GEN_AI_REQUEST_TOP_P: 0.9,
        sc.GEN_AI_REQUEST_FREQUENCY_PENALTY: 0.1,
        sc.GEN_AI_REQUEST_PRESENCE_PENALTY: 0.2,
        sc.GEN_AI_REQUEST_STOP_SEQUENCES: ("END",),
        sc.GEN_AI_REQUEST_SEED: 7,
        sc.GEN_AI_REQUEST_CHOICE_COUNT: 2,
        sc.GEN_AI_OUTPUT_TYPE: "json",
        sc.OPENAI_REQUEST_SERVICE_TIER: "flex",
    }
    assert len(response.choices) == 2
    assert span.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop", "stop")
    answer = {"role": "assistant", "parts": [text(CHAT_ANSWER)], "finish_reason": "stop"}
    assert content(span, sc.GEN_AI_OUTPUT_MESSAGES) == [answer, answer]


_REQUEST_KEYS = (
    sc.GEN_AI_REQUEST_MAX_TOKENS,
    sc.GEN_AI_REQUEST_TEMPERATURE,
    sc.GEN_AI_REQUEST_TOP_P,
    sc.GEN_AI_REQUEST_FREQUENCY_PENALTY,
    sc.GEN_AI_REQUEST_PRESENCE_PENALTY,
    sc.GEN_AI_REQUEST_STOP_SEQUENCES,
    sc.GEN_AI_REQUEST_SEED,
    sc.GEN_AI_REQUEST_CHOICE_COUNT,
    sc.GEN_AI_OUTPUT_TYPE,
    sc.OPENAI_REQUEST_SERVICE_TIER,
)


def test_request_parameters_other_forms(instrumented, client, span_exporter):
    client.chat.completions.create(
        model="fake-chat",
        messages=HELLO,
        max_tokens=50,
        stop=["a", "b"],
        n=1,
        response_format={"type": "text"},
    )
    attributes = only_span(span_exporter).attributes
    assert attributes[sc.GEN_AI_REQUEST_MAX_TOKENS] == 50
    assert attributes[sc.GEN_AI_REQUEST_STOP_SEQUENCES] == ("a", "b")
    assert attributes[sc.GEN_AI_OUTPUT_TYPE] == "text"
    assert sc.GEN_AI_REQUEST_CHOICE_COUNT not in attributes
    assert sc.GEN_AI_REQUEST_TEMPERATURE not in attributes


def test_content_parts_of_every_kind(instrumented, client, span_exporter, fake_llm):
    messages = [
        {"role": "developer", "content": "Be brief."},
        {
            "role": "user",
            "name": "alice",
            "content": [
                {"type": "text", "text": "Wie ist das Wetter in Zürich? ☀"},
                {"type": "image_url", "image_url": {"url": "https://example.com/sky.png", "detail": "low"}},
                {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
                {"type": "file", "file": {"file_id": "file-abc"}},
                {
                    "type": "file",
                    "file": {"file_data": "data:application/pdf;base64,JVBERg==", "filename": "a.pdf"},
                },
            ],
        },
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "look", "arguments": "{oops"}}
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "c1",
            "content": [{"type": "text", "text": "cl"}, {"type": "text", "text": "ear"}],
        },
    ]
    before = copy.deepcopy(messages)
    client.chat.completions.create(model="fake-chat", messages=messages)
    assert messages == before  # nothing of the caller's was touched
    span = only_span(span_exporter)
    assert content(span, sc.GEN_AI_INPUT_MESSAGES) == [
        {"role": "developer", "parts": [text("Be brief.")]},
        {
            "role": "user",
            "parts": [
                text("Wie ist das Wetter in Zürich? ☀"),
                {"type": "uri", "modality": "image", "uri": "https://example.com/sky.png"},
                {"type": "blob", "modality": "audio", "content": "UklGRg==", "mime_type": "audio/wav"},
                {"type": "file", "modality": "document", "file_id": "file-abc"},
                {
                    "type": "blob",
                    "modality": "document",
                    "content": "JVBERg==",
                    "mime_type": "application/pdf",
                },
            ],
            "name": "alice",
        },
        {
            "role": "assistant",
            "parts": [
                text("Let me look."),
                {"type": "tool_call", "id": "c1", "name": "look", "arguments": "{oops"},
            ],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "clear"}]},
    ]
    assert "Zürich? ☀" in span.attributes[sc.GEN_AI_INPUT_MESSAGES]  # not \u-escaped
    assert sc.GEN_AI_TOOL_DEFINITIONS not in span.attributes  # no tools in the request
    assert fake_llm.requests[-1]["body"]["messages"] == before


def test_reasoning_output(instrumented, client, span_exporter):
    client.chat.completions.create(model="fake-reasoning", messages=HELLO)
    assert content(only_span(span_exporter), sc.GEN_AI_OUTPUT_MESSAGES) == [
        {
            "role": "assistant",
            "parts": [{"type": "reasoning", "content": "2 + 2 = 4, so: 4."}, text("The answer is 4.")],
            "finish_reason": "stop",
        }
    ]


def test_generator_messages_reach_both_span_and_server(instrumented, client, span_exporter, fake_llm):
    response = client.chat.completions.create(model="fake-chat", messages=(m for m in HELLO))
    assert response.choices[0].message.content == CHAT_ANSWER
    assert content(only_span(span_exporter), sc.GEN_AI_INPUT_MESSAGES) == [
        {"role": "user", "parts": [text("hi")]}
    ]
    assert fake_llm.requests[-1]["body"]["messages"] == HELLO


def test_span_is_current_during_the_http_call(instrumented, fake_llm, span_exporter, tracer_provider):
    seen: list[trace.SpanContext] = []

    def on_request(request: Any) -> None:
        seen.append(trace.get_current_span().get_span_context())

    http_client = openai.DefaultHttpx2Client(event_hooks={"request": [on_request]})
    parent_tracer = tracer_provider.get_tracer("test")
    with (
        openai.OpenAI(base_url=fake_llm.base_url, api_key="k", http_client=http_client, max_retries=0) as c,
        parent_tracer.start_as_current_span("invoke_agent test") as parent,
    ):
        c.chat.completions.create(model="fake-chat", messages=HELLO)
        assert trace.get_current_span() is parent  # restored after the call
    chat = next(s for s in span_exporter.get_finished_spans() if s.name == "chat fake-chat")
    assert [ctx.span_id for ctx in seen] == [chat.context.span_id]
    assert chat.parent.span_id == parent.get_span_context().span_id


# --- content modes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "captured"),
    [
        ("NO_CONTENT", False),
        ("no_content", False),
        ("false", False),
        ("EVENT_ONLY", False),  # events are not emitted yet: nothing at all
        ("not-a-mode", False),
        ("SPAN_ONLY", True),
        ("span_and_event", True),
        ("True", True),
    ],
)
def test_content_modes(instrumented, client, span_exporter, monkeypatch, value, captured):
    monkeypatch.setenv(sc.ENV_CAPTURE_MESSAGE_CONTENT, value)
    client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, tools=TOOLS)
    attributes = only_span(span_exporter).attributes
    present = {key for key in sc.CONTENT_ATTRIBUTES if key in attributes}
    expected = {sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES, sc.GEN_AI_TOOL_DEFINITIONS}
    assert present == (expected if captured else set())
    assert attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] > 0  # non-content attributes stay either way


def test_content_capture_mode_resolution():
    mode = genai.content_capture_mode
    assert mode({}) is genai.ContentCapture.SPAN_ONLY  # trajotel's default
    assert mode({sc.ENV_CAPTURE_MESSAGE_CONTENT: " "}) is genai.ContentCapture.SPAN_ONLY
    assert mode({sc.ENV_CAPTURE_MESSAGE_CONTENT: "Span_And_Event"}) is genai.ContentCapture.SPAN_AND_EVENT
    assert mode({sc.ENV_CAPTURE_MESSAGE_CONTENT: "FALSE"}) is genai.ContentCapture.NO_CONTENT
    assert not genai.ContentCapture.EVENT_ONLY.on_span


def test_settings_read_from_os_environ_follow_every_change(monkeypatch):
    # genai.environ_value reads os.environ's own bytes dict: it must see every way the
    # environment changes, and decode values as os.environ does.
    name = "TRAJOTEL_TEST_SETTING"
    monkeypatch.delenv(name, raising=False)
    assert genai.environ_value(name) == ""
    monkeypatch.setenv(name, "Span_Only")
    assert genai.environ_value(name) == "Span_Only"
    os.environ[name] = "caf\u00e9 \udcff"  # non-ASCII, and a byte that is not UTF-8
    assert genai.environ_value(name) == os.environ[name]
    del os.environ[name]
    assert genai.environ_value(name) == ""
    monkeypatch.setenv(sc.ENV_CAPTURE_MESSAGE_CONTENT, "no_content")
    assert genai.content_capture_mode() is genai.ContentCapture.NO_CONTENT
    monkeypatch.setattr(os, "environ", {sc.ENV_CAPTURE_MESSAGE_CONTENT: "event_only"})  # a plain dict
    assert genai.content_capture_mode() is genai.ContentCapture.EVENT_ONLY


# --- errors, streams, raw responses ----------------------------------------------------------------


def test_error_status_propagates(instrumented, client, span_exporter):
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="fake-error", messages=HELLO)
    assert info.value.status_code == 500
    assert info.value.body["code"] == "fake_llm_error"
    span = only_span(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == "500"
    assert sc.GEN_AI_RESPONSE_ID not in span.attributes
    [event] = span.events
    assert event.name == "exception"
    assert event.attributes["exception.type"].endswith("InternalServerError")


def test_connection_error_propagates(instrumented, span_exporter):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    unreachable = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0)
    with unreachable as c, pytest.raises(openai.APIConnectionError):
        c.chat.completions.create(model="fake-chat", messages=HELLO)
    span = only_span(span_exporter)
    assert span.attributes[sc.ERROR_TYPE] == "APIConnectionError"
    assert span.attributes[sc.SERVER_PORT] == port


def test_streams_still_behave_and_get_one_span_each(instrumented, client, span_exporter):
    stream = client.chat.completions.create(
        model="fake-chat", messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    assert isinstance(stream, openai.Stream)
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == CHAT_ANSWER
    assert chunks[-1].usage.total_tokens > 0
    with client.chat.completions.stream(model="gpt-4o-mini", messages=HELLO, tools=TOOLS) as events:
        final = events.get_final_completion()
    assert json.loads(final.choices[0].message.tool_calls[0].function.arguments) == {"city": "Paris"}
    # Stream spans in detail: tests/instrument/test_openai_streams.py.
    assert [s.name for s in span_exporter.get_finished_spans()] == ["chat fake-chat", "chat gpt-4o-mini"]


def test_with_raw_response(instrumented, client, span_exporter):
    raw = client.chat.completions.with_raw_response.create(model="fake-chat", messages=HELLO)
    assert isinstance(raw, LegacyAPIResponse)
    assert raw.headers["x-request-id"].startswith("req_fk")
    completion = raw.parse()
    assert completion.choices[0].message.content == CHAT_ANSWER
    assert raw.http_response.json()["id"] == completion.id
    span = only_span(span_exporter)
    assert span.attributes[sc.GEN_AI_RESPONSE_ID] == completion.id
    assert span.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == completion.usage.completion_tokens
    assert content(span, sc.GEN_AI_OUTPUT_MESSAGES)[0]["parts"] == [text(CHAT_ANSWER)]


def test_with_streaming_response_records_the_parsed_body(instrumented, client, span_exporter):
    with client.chat.completions.with_streaming_response.create(
        model="fake-chat", messages=HELLO
    ) as response:
        completion = response.parse()
    assert completion.choices[0].message.content == CHAT_ANSWER
    span = only_span(span_exporter)
    assert span.attributes[sc.GEN_AI_REQUEST_MODEL] == "fake-chat"
    # Recorded when the caller parsed the body (tests/instrument/test_openai_bodies.py: the rest).
    assert span.attributes[sc.GEN_AI_RESPONSE_ID] == completion.id


# --- never break the agent ------------------------------------------------------------------------


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("instrumentation bug")


def test_failing_helpers_are_swallowed(instrumented, client, span_exporter, monkeypatch):
    for name in (
        "input_messages",
        "cached_input_messages",
        "output_messages",
        "usage_attributes",
        "server_attributes",
    ):
        monkeypatch.setattr(genai, name, _boom)
    response = client.chat.completions.create(model="fake-chat", messages=HELLO)
    assert isinstance(response, openai.types.chat.ChatCompletion)
    assert response.choices[0].message.content == CHAT_ANSWER
    span = only_span(span_exporter)
    assert span.end_time is not None
    assert span.attributes[sc.GEN_AI_REQUEST_MODEL] == "fake-chat"
    assert not {sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES} & set(span.attributes)


def test_failing_span_start_and_error_recording_are_swallowed(
    instrumented, client, span_exporter, monkeypatch
):
    monkeypatch.setattr(genai, "record_error", _boom)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="fake-error", messages=HELLO)
    assert only_span(span_exporter).end_time is not None
    monkeypatch.setattr(wrappers, "_start_span", _boom)
    assert client.chat.completions.create(model="fake-chat", messages=HELLO).choices[0].message.content
    assert len(span_exporter.get_finished_spans()) == 1  # no span, same answer


def test_uninstrument_restores_create(tracer_provider: TracerProvider, span_exporter, client):
    original = vars(Completions)["create"]
    instrumentor = OpenAIInstrumentor()
    assert instrumentor.instrumentation_dependencies() == ("openai >= 1.40",)
    instrumentor.instrument(tracer_provider=tracer_provider)
    try:
        assert isinstance(vars(Completions)["create"], wrapt.FunctionWrapper)
        stale = client.chat.completions.with_raw_response  # binds the wrapped create
        client.chat.completions.create(model="fake-chat", messages=HELLO)
        assert len(span_exporter.get_finished_spans()) == 1
    finally:
        instrumentor.uninstrument()
    assert vars(Completions)["create"] is original
    client.chat.completions.create(model="fake-chat", messages=HELLO)
    assert stale.create(model="fake-chat", messages=HELLO).parse().choices[0].message.content == CHAT_ANSWER
    assert len(span_exporter.get_finished_spans()) == 1


# --- genai helpers ----------------------------------------------------------------------------------


def test_genai_helpers():
    assert [genai.map_finish_reason(r) for r in ("stop", "length", "tool_calls", "function_call")] == [
        "stop",
        "length",
        "tool_call",
        "tool_call",
    ]
    assert genai.map_finish_reason("content_filter") == "content_filter"
    assert genai.map_finish_reason(None) == "error"
    assert genai.parse_arguments('{"a": 1}') == {"a": 1}
    assert genai.parse_arguments("not json") == "not json"
    assert genai.server_attributes("https://api.openai.com/v1/") == {
        sc.SERVER_ADDRESS: "api.openai.com",
        sc.SERVER_PORT: 443,
    }
    assert genai.finish_reasons([{"index": 1, "finish_reason": "length"}, {"index": 0}]) == [
        "error",
        "length",
    ]
    legacy = {"role": "assistant", "function_call": {"name": "f", "arguments": "{}"}}
    assert genai.input_message(legacy)["parts"] == [
        {"type": "tool_call", "id": None, "name": "f", "arguments": {}}
    ]
    custom = {"type": "custom", "custom": {"name": "grep", "description": "Search."}}
    assert genai.tool_definitions([custom]) == [{"type": "custom", "name": "grep", "description": "Search."}]
