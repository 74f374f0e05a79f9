"""The fake server's Responses, embeddings and legacy completions APIs, over raw HTTP."""

from __future__ import annotations

import base64
import http.client
import json
import math
import re
import struct
from collections.abc import Iterator
from typing import Any

import pytest

from trajotel.testing import FakeLLMServer, Step

TOOLS = [{"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    scenarios = {
        "fake-think": [Step(content="4", reasoning="2 + 2 is 4.")],
        "fake-cut": [Step(content="cut", finish_reason="length")],
    }
    with FakeLLMServer(scenarios=scenarios) as s:
        yield s


def post(server: FakeLLMServer, path: str, body: Any) -> tuple[int, str, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read()
    finally:
        connection.close()


def sse(data: bytes) -> list[tuple[str | None, str]]:
    """(event name, data) of each SSE frame."""
    frames = []
    for frame in data.decode().strip().split("\n\n"):
        name = re.search(r"^event: (.*)$", frame, re.M)
        payload = re.search(r"^data: (.*)$", frame, re.M)
        assert payload, frame
        frames.append((name.group(1) if name else None, payload.group(1)))
    return frames


# --- /v1/responses -------------------------------------------------------------------------------


def test_responses_tool_call_then_answer(server):
    request = {"model": "default", "input": "weather?", "tools": TOOLS, "instructions": "Be brief."}
    status, _, data = post(server, "/v1/responses", request)
    assert status == 200
    first = json.loads(data)
    assert first["object"] == "response" and first["status"] == "completed"
    assert first["instructions"] == "Be brief." and first["tools"] == TOOLS
    assert first["text"] == {"format": {"type": "text"}}
    [call] = first["output"]
    assert call["type"] == "function_call" and call["name"] == "get_weather"
    assert re.fullmatch(r"call_fk0x0_[0-9a-f]{8}", call["call_id"])
    assert json.loads(call["arguments"]) == {"city": "Paris"}
    usage = first["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert usage["input_tokens_details"]["cached_tokens"] == 0

    # The client sends only the tool output back (as with previous_response_id): step 2 follows.
    output = {"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}
    second = json.loads(post(server, "/v1/responses", {"model": "default", "input": [output]})[2])
    assert second["output"][0]["name"] == "add"
    assert second["usage"]["input_tokens_details"]["cached_tokens"] > 0


def test_responses_reasoning_message_and_incomplete(server):
    body = json.loads(post(server, "/v1/responses", {"model": "fake-think", "input": "2+2"})[2])
    assert [item["type"] for item in body["output"]] == ["reasoning", "message"]
    assert body["output"][0]["summary"] == [{"type": "summary_text", "text": "2 + 2 is 4."}]
    assert body["output"][1]["content"][0]["text"] == "4"
    cut = json.loads(post(server, "/v1/responses", {"model": "fake-cut", "input": "x"})[2])
    assert cut["status"] == "incomplete"
    assert cut["incomplete_details"] == {"reason": "max_output_tokens"}


def test_responses_echo_a_requested_format(server):
    text = {"format": {"type": "json_schema", "name": "W", "schema": {"type": "object"}}}
    body = json.loads(post(server, "/v1/responses", {"model": "fake-chat", "input": "x", "text": text})[2])
    assert body["text"] == text


def test_responses_stream_event_sequence(server):
    status, content_type, data = post(
        server, "/v1/responses", {"model": "fake-think", "input": "2+2", "stream": True}
    )
    assert status == 200 and content_type == "text/event-stream"
    frames = sse(data)
    events = [json.loads(payload) for _, payload in frames]
    assert [name for name, _ in frames] == [event["type"] for event in events]  # named frames
    assert [event["sequence_number"] for event in events] == list(range(len(events)))
    assert [event["type"] for event in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert events[0]["response"]["status"] == "in_progress" and events[0]["response"]["output"] == []
    assert events[-1]["response"]["usage"]["output_tokens"] > 0


def test_responses_stream_function_arguments(server):
    data = post(server, "/v1/responses", {"model": "default", "input": "w", "tools": TOOLS, "stream": True})[
        2
    ]
    events = [json.loads(payload) for _, payload in sse(data)]
    deltas = [e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta"]
    [done] = [e for e in events if e["type"] == "response.function_call_arguments.done"]
    assert len(deltas) > 1 and "".join(deltas) == done["arguments"] == '{"city":"Paris"}'
    added = next(e for e in events if e["type"] == "response.output_item.added")["item"]
    assert added["arguments"] == "" and added["status"] == "in_progress"


def test_responses_scripted_error(server):
    status, _, data = post(server, "/v1/responses", {"model": "fake-error", "input": "x"})
    assert status == 500 and json.loads(data)["error"]["type"] == "server_error"


# --- /v1/embeddings ------------------------------------------------------------------------------


def test_embeddings_are_deterministic_unit_vectors(server):
    body = json.loads(post(server, "/v1/embeddings", {"model": "m", "input": ["a", "b", "a"]})[2])
    vectors = [item["embedding"] for item in body["data"]]
    assert [item["index"] for item in body["data"]] == [0, 1, 2]
    assert all(len(v) == 8 and math.isclose(sum(x * x for x in v), 1.0) for v in vectors)
    assert vectors[0] == vectors[2] != vectors[1]
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] == 3
    assert body["model"] == "m"


def test_embeddings_base64_and_dimensions(server):
    floats = json.loads(post(server, "/v1/embeddings", {"model": "m", "input": "a", "dimensions": 4})[2])
    encoded = json.loads(
        post(
            server,
            "/v1/embeddings",
            {"model": "m", "input": "a", "dimensions": 4, "encoding_format": "base64"},
        )[2]
    )
    raw = base64.b64decode(encoded["data"][0]["embedding"])
    decoded = struct.unpack("<4f", raw)  # little-endian float32
    assert decoded == pytest.approx(floats["data"][0]["embedding"], rel=1e-6)


def test_embeddings_of_token_ids_and_bad_input(server):
    body = json.loads(post(server, "/v1/embeddings", {"model": "m", "input": [1, 2, 3]})[2])
    assert len(body["data"]) == 1  # one tokenized input, not three
    assert post(server, "/v1/embeddings", {"model": "m", "input": []})[0] == 400


# --- /v1/completions -----------------------------------------------------------------------------


def test_legacy_completion(server):
    body = json.loads(post(server, "/v1/completions", {"model": "fake-chat", "prompt": "hi"})[2])
    assert body["object"] == "text_completion"
    assert body["choices"] == [
        {"text": "Hello! I am a fake LLM.", "index": 0, "logprobs": None, "finish_reason": "stop"}
    ]
    tool_step = json.loads(post(server, "/v1/completions", {"model": "default", "prompt": "hi"})[2])
    assert json.loads(tool_step["choices"][0]["text"]) == {"city": "Paris"}  # no tool calls here


def test_legacy_completion_stream(server):
    request = {
        "model": "fake-chat",
        "prompt": "hi",
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    frames = sse(post(server, "/v1/completions", request)[2])
    assert frames[-1] == (None, "[DONE]")
    chunks = [json.loads(payload) for _, payload in frames[:-1]]
    assert "".join(c["choices"][0]["text"] for c in chunks if c["choices"]) == "Hello! I am a fake LLM."
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0
