"""The fake LLM server follows its script, spoken to with a raw HTTP client."""

from __future__ import annotations

import http.client
import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from trajotel.testing import FakeLLMServer, Step

WEATHER = {"city": "Paris"}
SUM = {"a": 21, "b": 21}
FINAL = "It is sunny and 22 C in Paris, and 21 + 21 = 42."


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    scenarios = {"two-tools": [Step(tool_calls=(("a", {}), ("b", {"x": 1}))), Step.text("done")]}
    with FakeLLMServer(scenarios=scenarios) as s:
        yield s


def request(
    server: FakeLLMServer, method: str, path: str, body: Any = None
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        payload = json.dumps(body) if body is not None else None
        headers = {"Content-Type": "application/json"} if payload else {}
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def chat(server: FakeLLMServer, messages: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
    status, _, data = request(server, "POST", "/v1/chat/completions", {"messages": messages, **params})
    assert status == 200, data
    return json.loads(data)


def test_health_and_models(server):
    status, _, data = request(server, "GET", "/healthz")
    assert (status, json.loads(data)) == (200, {"status": "ok"})
    status, _, data = request(server, "GET", "/v1/models")
    ids = {model["id"] for model in json.loads(data)["data"]}
    assert status == 200 and {"default", "fake-chat", "fake-error", "two-tools"} <= ids
    assert request(server, "GET", "/v1/nowhere")[0] == 404
    assert server.base_url == f"http://127.0.0.1:{server.port}/v1"


def test_default_scenario_is_followed_statelessly(server):
    messages: list[dict[str, Any]] = [{"role": "user", "content": "weather and sum?"}]
    first = chat(server, messages, model="any-unknown-model")
    [choice] = first["choices"]
    assert choice["finish_reason"] == "tool_calls"
    [call] = choice["message"]["tool_calls"]
    assert re.fullmatch(r"call_fk0x0_[0-9a-f]{8}", call["id"])
    assert call["function"] == {
        "name": "get_weather",
        "arguments": json.dumps(WEATHER, separators=(",", ":")),
    }
    assert first["model"] == "any-unknown-model" and first["system_fingerprint"] == "fp_fakellm"

    # A second agent starting now is unaffected by the first one's progress.
    other = chat(server, messages, model="gpt-4o-mini")["choices"][0]["message"]
    assert other["tool_calls"][0]["function"]["name"] == "get_weather"

    messages += [choice["message"], {"role": "tool", "tool_call_id": call["id"], "content": "sunny"}]
    second = chat(server, messages, model="any-unknown-model")["choices"][0]
    [call] = second["message"]["tool_calls"]
    assert re.fullmatch(r"call_fk1x0_[0-9a-f]{8}", call["id"])
    assert (call["function"]["name"], json.loads(call["function"]["arguments"])) == ("add", SUM)

    messages += [second["message"], {"role": "tool", "tool_call_id": call["id"], "content": "42"}]
    third = chat(server, messages, model="any-unknown-model")
    assert third["choices"][0]["message"]["content"] == FINAL
    assert third["choices"][0]["finish_reason"] == "stop"
    assert "tool_calls" not in third["choices"][0]["message"]

    usage = third["usage"]
    prompt = 1 + len(json.dumps(messages, separators=(",", ":"), ensure_ascii=False)) // 4
    completion = 1 + len(FINAL) // 4
    assert usage == {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": prompt // 2, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": completion // 2, "audio_tokens": 0},
    }
    # Past the end of the script the last step repeats.
    again = chat(server, [*messages, {"role": "user", "content": "again"}], model="x")
    assert again["choices"][0]["message"]["content"] == FINAL


def test_parallel_tool_calls_and_choices(server):
    body = chat(server, [{"role": "user", "content": "go"}], model="two-tools", n=2)
    assert [c["index"] for c in body["choices"]] == [0, 1]
    calls = body["choices"][0]["message"]["tool_calls"]
    assert [c["id"][: len("call_fk0x0_")] for c in calls] == ["call_fk0x0_", "call_fk0x1_"]
    assert calls[0]["id"] != body["choices"][1]["message"]["tool_calls"][0]["id"]
    follow_up = [{"role": "assistant", "tool_calls": calls}] + [
        {"role": "tool", "tool_call_id": c["id"], "content": "ok"} for c in calls
    ]
    assert chat(server, follow_up, model="two-tools")["choices"][0]["message"]["content"] == "done"


def test_fake_chat_and_fake_error(server):
    assert (
        chat(server, [], model="fake-chat")["choices"][0]["message"]["content"] == "Hello! I am a fake LLM."
    )
    status, headers, data = request(
        server, "POST", "/v1/chat/completions", {"model": "fake-error", "messages": []}
    )
    assert status == 500
    assert headers["x-should-retry"] == "false"
    error = json.loads(data)["error"]
    assert error["type"] == "server_error" and error["message"]
    assert request(server, "POST", "/v1/chat/completions", None)[0] == 400


def sse_events(data: bytes) -> list[str]:
    return [line[len("data: ") :] for line in data.decode().split("\n\n") if line.startswith("data: ")]


def test_stream_chunks(server):
    body = {"model": "x", "messages": [], "stream": True, "stream_options": {"include_usage": True}}
    status, headers, data = request(server, "POST", "/v1/chat/completions", body)
    assert status == 200 and headers["content-type"] == "text/event-stream"
    events = sse_events(data)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    usage = chunks[-1]
    assert usage["choices"] == [] and usage["usage"]["total_tokens"] > 0
    deltas = [c["choices"][0] for c in chunks[:-1]]
    assert deltas[-1]["finish_reason"] == "tool_calls"
    calls = [d["delta"]["tool_calls"][0] for d in deltas if d["delta"].get("tool_calls")]
    assert calls[0]["id"].startswith("call_fk0x0_") and calls[0]["function"]["name"] == "get_weather"
    assert json.loads("".join(c["function"]["arguments"] for c in calls)) == WEATHER

    status, _, data = request(
        server, "POST", "/v1/chat/completions", {**body, "model": "fake-chat", "stream_options": None}
    )
    chunks = [json.loads(e) for e in sse_events(data)[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "Hello! I am a fake LLM."
    assert all("usage" not in c for c in chunks)


def test_requests_are_recorded(server):
    chat(server, [{"role": "user", "content": "remember me"}], model="fake-chat", temperature=0)
    last = server.requests[-1]
    assert last["method"] == "POST" and last["path"] == "/v1/chat/completions"
    assert last["headers"]["Content-Type"] == "application/json"
    assert last["body"] == {
        "messages": [{"role": "user", "content": "remember me"}],
        "model": "fake-chat",
        "temperature": 0,
    }


def test_command_line_server():
    process = subprocess.Popen(
        [sys.executable, "-m", "trajotel.testing.fake_llm", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline().strip()
        match = re.fullmatch(r"fake-llm listening on http://127\.0\.0\.1:(\d+)", line)
        assert match, line
        connection = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=10)
        connection.request("GET", "/healthz")
        assert connection.getresponse().status == 200
        connection.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert process.stderr.read() == ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
