"""LangSmith's OpenTelemetry export -> canonical GenAI spans. The real spans LangSmith 0.15 sent
for a LangGraph ReAct agent (tests/data/dialects/langsmith-*.json, one span per run name) go
through the real SDK, OTLP encoder and normalizer. The references are other instrumentations'
recordings of the same tool loop: current OpenLLMetry's GenAI message JSON for the second model
call (the same as trajotel's own, tests/e2e/test_peer_dialects.py) and the Vercel AI SDK's
messages for the final call. Last, a real LangGraph agent traced by LangSmith alone, sent to a
real collector, must give the trajectory the model server saw."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from trajotel.testing.collector_process import CollectorProcess
from trajotel.testing.fake_llm import FakeLLMServer

from tests.e2e.test_peer_dialects import TRAJOTEL_INSTRUMENTORS
from tests.normalize.dialect_samples import (
    DATA,
    contents,
    normalize_attributes,
    same_ids,
    sample,
    tool_result,
)
from tests.support.agent_runs import (
    COLLECTOR_ENV,
    OPENTELEMETRY_INSTRUMENT,
    agent_env,
    only_trajectory,
    run_agent,
)
from tests.support.trajectory_match import check_trajectory

SPANS = {
    s["name"]: s for s in json.loads((DATA / "langsmith-0.15-otel-only-langgraph.json").read_text())["spans"]
}
VERCEL = json.loads((DATA / "vercel-ai-sdk-6.0.326.json").read_text())["spans"]
TASK = "What's the weather in Paris, and what is 21 + 21?"  # the recorded run's
AGENT_TASK = "What is the weather in Paris, and what is 21 + 21?"  # tests/e2e/agents' agent's
ANSWER = "It is sunny and 22 C in Paris, and 21 + 21 = 42."


PYDANTIC_SPANS = json.loads((DATA / "pydantic-ai-2.68-instrument_all.json").read_text())["spans"]


def _langsmith(name: str, **overrides: Any) -> tuple[dict[str, Any], Any]:
    span = SPANS[name]
    attributes = {k: v for k, v in {**span["attributes"], **overrides}.items() if v is not None}
    return normalize_attributes(attributes, span["name"], span["scope"], span["kind"])


def _messages(row: dict[str, Any], batch: Any) -> dict[str, Any]:
    return same_ids(
        {
            "input": contents(batch, row["InputMessageHashes"]),
            "output": contents(batch, row["OutputMessageHashes"]),
        }
    )


def test_model_call_gives_the_same_canonical_messages_as_other_instrumentations() -> None:
    row, batch = _langsmith("ChatOpenAI")
    assert (row["Dialect"], row["Operation"], row["Provider"]) == ("langsmith", "chat", "openai")
    messages = _messages(row, batch)
    # The final call's history: the second call's input and answer (as OpenLLMetry recorded that
    # call; an answer sent back has no finish reason), then the second tool's result.
    attributes = sample("traceloop-openai-0.62.4")["attributes"]
    second = same_ids(
        {
            "input": json.loads(attributes["gen_ai.input.messages"]),
            "output": json.loads(attributes["gen_ai.output.messages"]),
        }
    )
    (answer,) = second["output"]
    answer.pop("finish_reason")
    assert messages["input"][:5] == [*second["input"], answer]
    assert messages["input"][5]["role"] == "tool"
    assert messages["output"] == [
        {"role": "assistant", "parts": [{"type": "text", "content": ANSWER}], "finish_reason": "stop"}
    ]
    # The AI SDK's own message model, converted independently, gives the very same messages.
    vercel_final = [s for s in VERCEL if s["name"].endswith("doGenerate")][-1]
    assert (
        _messages(*normalize_attributes(vercel_final["attributes"], vercel_final["name"], "ai")) == messages
    )


def test_model_call_tool_definitions_are_in_the_conventions_flat_form() -> None:
    row, batch = _langsmith("ChatOpenAI")
    tools = json.loads(batch.contents["default", row["ToolDefinitionsHash"]][1])
    assert [sorted(tool) for tool in tools] == [["description", "name", "parameters", "type"]] * 2
    chat = next(s for s in PYDANTIC_SPANS if s["name"].startswith("chat"))
    pydantic = json.loads(chat["attributes"]["gen_ai.tool.definitions"])
    assert [(t["name"], t["description"]) for t in tools] == [(t["name"], t["description"]) for t in pydantic]


def test_model_call_attributes() -> None:
    row, _ = _langsmith("ChatOpenAI")
    completion = json.loads(SPANS["ChatOpenAI"]["attributes"]["gen_ai.completion"])
    metadata = completion["generations"][0][0]["message"]["kwargs"]["response_metadata"]
    assert (row["RequestModel"], row["ResponseModel"], row["ResponseId"]) == (
        "gpt-4o-mini",
        metadata["model_name"],
        metadata["id"],
    )
    assert (row["InputTokens"], row["OutputTokens"], row["FinishReasons"]) == (171, 25, ["stop"])
    attributes = row["SpanAttributes"]
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == "0"
    assert attributes["openai.response.system_fingerprint"] == metadata["system_fingerprint"]
    # The request and response JSON only repeated what is now stored; LangSmith's own names stay.
    assert not {"gen_ai.prompt", "gen_ai.completion", "gen_ai.system"} & set(attributes)
    assert attributes["langsmith.metadata.ls_provider"] == "openai"


def test_outermost_graph_call_is_the_agent_run_and_chains_stay_plain_spans() -> None:
    run, _ = _langsmith("LangGraph")
    assert (run["Dialect"], run["Operation"], run["AgentName"]) == ("langsmith", "invoke_agent", "LangGraph")
    assert run["SpanAttributes"]["trajotel.task"] == TASK
    assert run["Provider"] == ""  # LangSmith's gen_ai.system "langchain" names no provider
    for name in ("agent", "call_model", "RunnableSequence", "Prompt", "should_continue", "tools"):
        row, _ = _langsmith(name)
        assert (row["Dialect"], row["Operation"]) == ("langsmith", ""), name
        # A chain's inputs and outputs are not messages of a model call: kept as they came.
        assert row["SpanAttributes"]["gen_ai.prompt"] == SPANS[name]["attributes"]["gen_ai.prompt"]
    # A prompt template run is no model call, whatever LangSmith's operation name says.
    prompt, _ = normalize_attributes({"langsmith.span.kind": "prompt", "gen_ai.operation.name": "chat"})
    assert prompt["Operation"] == ""


def test_tool_runs() -> None:
    row, batch = _langsmith("add")
    assert (row["Operation"], row["ToolName"], row["ToolCallId"]) == (
        "execute_tool",
        "add",
        SPANS["add"]["attributes"]["gen_ai.tool.call.id"],
    )
    attributes = row["SpanAttributes"]
    assert (attributes["gen_ai.tool.call.arguments"], tool_result(row, batch)) == ('{"a":21,"b":21}', 42)
    assert "error.type" not in attributes
    failed = json.dumps({"output": {"content": "Error: boom", "type": "tool", "status": "error"}})
    row, batch = _langsmith("add", **{"gen_ai.completion": failed})
    assert (row["ErrorType"], tool_result(row, batch)) == ("tool_error", "Error: boom")


def test_wrapped_openai_client_request_and_response() -> None:
    """``wrap_openai`` / ``@traceable`` llm runs record the OpenAI request and response as they are."""
    attributes = sample("traceloop-openai-0.62.4")["attributes"]
    second = json.loads(attributes["gen_ai.input.messages"])
    request = {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": TASK},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": second[2]["parts"][0]["id"],
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": second[2]["parts"][0]["id"], "content": "sunny, 22 C in Paris"},
        ],
        "tools": [{"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}],
    }
    response = {
        "id": "chatcmpl-1",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_2",
                            "type": "function",
                            "function": {"name": "add", "arguments": '{"a":21,"b":21}'},
                        }
                    ],
                },
            }
        ],
        "usage": {
            "prompt_tokens": 106,
            "completion_tokens": 48,
            "prompt_tokens_details": {"cached_tokens": 5},
        },
    }
    row, batch = normalize_attributes(
        {
            "langsmith.span.kind": "llm",
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "openai",
            "gen_ai.prompt": json.dumps(request),
            "gen_ai.completion": json.dumps(response),
        }
    )
    assert contents(batch, row["InputMessageHashes"]) == second
    (output,) = contents(batch, row["OutputMessageHashes"])
    assert (output["finish_reason"], output["parts"][0]["arguments"]) == ("tool_call", {"a": 21, "b": 21})
    assert row["FinishReasons"] == ["tool_calls"]
    assert contents(batch, row["ToolDefinitionsHash"]) == [
        {"type": "function", "name": "add", "parameters": {"type": "object"}}
    ]
    assert row["SpanAttributes"]["gen_ai.usage.cache_read.input_tokens"] == "5"


def test_unreadable_content_stays_raw_with_the_reason() -> None:
    row, _ = _langsmith("ChatOpenAI", **{"gen_ai.completion": '{"generations": [[{"text": "cut off'})
    error = row["SpanAttributes"]["trajotel.normalize.error"]
    assert error.startswith("langsmith: gen_ai.completion: must be a JSON object")
    assert row["SpanAttributes"]["gen_ai.completion"].endswith("cut off")
    assert row["OutputMessageHashes"] == [] and row["InputMessageHashes"] == []
    assert row["Operation"] == "chat"  # still a model call, found by `trajotel doctor`

    batch_of_two = json.dumps({"messages": [[["user", "a"]], [["user", "b"]]]})
    row, _ = _langsmith("ChatOpenAI", **{"gen_ai.prompt": batch_of_two})
    assert "2 message lists in one run" in row["SpanAttributes"]["trajotel.normalize.error"]


AGENT = Path(__file__).resolve().parents[1] / "e2e" / "agents" / "langgraph_react_agent.py"
LANGSMITH_OTEL_ONLY = {
    "LANGSMITH_TRACING": "true",
    "LANGSMITH_OTEL_ENABLED": "true",
    "LANGSMITH_OTEL_ONLY": "true",
}


@pytest.mark.parametrize("streamed", [False, True], ids=["invoke", "stream"])
def test_langgraph_agent_traced_by_langsmith_alone_is_one_trajectory(tmp_path: Path, streamed: bool) -> None:
    with FakeLLMServer() as fake, CollectorProcess(tmp_path / "data", env=COLLECTOR_ENV) as collector:
        env = agent_env(
            collector,
            fake,
            **LANGSMITH_OTEL_ONLY,
            OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=TRAJOTEL_INSTRUMENTORS,
        )
        command = [OPENTELEMETRY_INSTRUMENT, sys.executable, str(AGENT), *(["--stream"] if streamed else [])]
        lines = run_agent(command, env).stdout.splitlines()
        assert f"ANSWER {ANSWER}" in lines
        trajectory = only_trajectory(collector)
        scopes = collector.query("SELECT DISTINCT ScopeName AS scope, Dialect AS dialect FROM spans")
        assert scopes == [{"scope": "langsmith", "dialect": "langsmith"}]  # LangSmith alone traced it
    assert collector.proc is not None and collector.proc.returncode == 0, collector.log()
    assert (trajectory.agent_name, trajectory.task) == ("weather-agent", AGENT_TASK)
    tool_results = [json.loads(line.split(" ", 1)[1]) for line in lines if line.startswith("TOOL_RESULT ")]
    check_trajectory(trajectory, fake.requests, tool_results)
