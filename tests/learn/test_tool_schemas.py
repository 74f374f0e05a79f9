"""The tools' schemas as the real openai and anthropic SDKs take them (sent to the fake LLM
server, which records what the SDK put on the wire), agent tool loops that run call_tool on what
the model asked, and call_tool's JSON errors."""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator

import anthropic
import openai
import pytest
from anthropic.types import ToolParam
from openai.types.chat import ChatCompletionToolParam
from pydantic import TypeAdapter

import trajotel
from trajotel.enrich.tool_schemas import PLUMBING, TOOLS, call_tool, tool_schemas
from trajotel.errors import InvalidInputError
from trajotel.testing import FakeLLMServer, Step

ASK = {"query": "refund order lost parcel", "k": 3, "max_score": 0.5}
SCENARIOS = {"learner": [Step.tool("search_trajectories", ASK), Step.text("Avoid issue_refund timeouts.")]}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(scenarios=SCENARIOS) as server:
        yield server


def test_every_parameter_of_each_function_is_in_its_schema() -> None:
    assert [spec.name for spec in TOOLS] == [
        "search_trajectories",
        "get_successful_examples",
        "analyze_failure_patterns",
    ]
    for spec in TOOLS:
        signature = inspect.signature(spec.function).parameters
        schema = spec.input_schema()
        assert list(schema["properties"]) == [name for name in signature if name not in PLUMBING]
        assert schema["required"] == [n for n, p in signature.items() if p.default is inspect.Parameter.empty]
        for name, prop in schema["properties"].items():
            assert prop["description"] and prop["type"] in ("string", "integer", "number")
            if signature[name].default not in (None, inspect.Parameter.empty):
                assert prop["default"] == signature[name].default
    # One description per tool, the same in every provider's form.
    openai_tools, anthropic_tools, mcp_tools = (tool_schemas(p) for p in ("openai", "anthropic", "mcp"))
    for spec, o, a, m in zip(TOOLS, openai_tools, anthropic_tools, mcp_tools, strict=True):
        assert o["function"]["description"] == a["description"] == m["description"] == spec.description
        assert o["function"]["parameters"] == a["input_schema"] == m["inputSchema"] == spec.input_schema()
    with pytest.raises(InvalidInputError, match="unknown tool provider 'gemini'"):
        tool_schemas("gemini")


def test_the_sdks_types_accept_the_schemas() -> None:
    for tool in tool_schemas("openai"):
        TypeAdapter(ChatCompletionToolParam).validate_python(tool, strict=True)
    for tool in tool_schemas("anthropic"):
        TypeAdapter(ToolParam).validate_python(tool, strict=True)


def test_an_openai_agent_loop_runs_the_tool_the_model_asked_for(
    fake: FakeLLMServer, client: trajotel.Client
) -> None:
    llm = openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0)
    messages: list = [{"role": "user", "content": "Refund order 2210: the parcel was lost."}]
    tools = tool_schemas("openai")
    first = llm.chat.completions.create(model="learner", messages=messages, tools=tools)
    assert fake.requests[-1]["body"]["tools"] == tools  # as the SDK sent them
    [call] = first.choices[0].message.tool_calls
    answer = call_tool(call.function.name, call.function.arguments, client=client)  # arguments: JSON text
    hits = json.loads(answer)
    assert hits[0]["id"] == "refund-timeout-1" and all(h["score"] <= 0.5 for h in hits) and len(hits) == 3
    messages += [first.choices[0].message.model_dump(exclude_none=True)]
    messages += [{"role": "tool", "tool_call_id": call.id, "content": answer}]
    final = llm.chat.completions.create(model="learner", messages=messages, tools=tools)
    assert final.choices[0].message.content == "Avoid issue_refund timeouts."
    assert fake.requests[-1]["body"]["messages"][-1]["content"] == answer


def test_an_anthropic_agent_loop_runs_the_tool_the_model_asked_for(
    fake: FakeLLMServer, client: trajotel.Client
) -> None:
    llm = anthropic.Anthropic(base_url=f"http://{fake.host}:{fake.port}", api_key="test", max_retries=0)
    tools = tool_schemas("anthropic")
    messages: list = [{"role": "user", "content": "Refund order 2210: the parcel was lost."}]
    first = llm.messages.create(model="learner", max_tokens=500, messages=messages, tools=tools)
    assert fake.requests[-1]["body"]["tools"] == tools
    [use] = [block for block in first.content if block.type == "tool_use"]
    assert use.input == ASK
    answer = call_tool(use.name, use.input, client=client)  # arguments: a dict
    assert json.loads(answer)[0]["id"] == "refund-timeout-1"
    messages += [
        {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": answer}]},
    ]
    final = llm.messages.create(model="learner", max_tokens=500, messages=messages, tools=tools)
    assert final.content[0].text == "Avoid issue_refund timeouts."


def test_call_tool_runs_every_tool(client: trajotel.Client) -> None:
    examples = json.loads(
        call_tool("get_successful_examples", {"task": "broken kettle", "k": 1}, client=client)
    )
    assert [e["id"] for e in examples] == ["refund-kettle"]
    report = json.loads(call_tool("analyze_failure_patterns", '{"agent": "weather-agent"}', client=client))
    assert report["patterns"][0]["pattern"] == "tool get_weather failed: HTTPError"
    # null stands for "not given"; 2.0 is an integer.
    same = json.loads(
        call_tool("search_trajectories", {"query": "kettle", "k": 2.0, "agent": None}, client=client)
    )
    assert len(same) == 2


@pytest.mark.parametrize(
    ("name", "arguments", "error"),
    [
        ("delete_everything", {}, "unknown tool 'delete_everything'"),
        ("search_trajectories", "{not json", "search_trajectories: the arguments are not JSON"),
        ("search_trajectories", "[1, 2]", "search_trajectories: the arguments must be a JSON object"),
        ("search_trajectories", {}, "search_trajectories: missing argument 'query'"),
        ("search_trajectories", {"query": "x", "size": 3}, "search_trajectories: unknown argument 'size'"),
        ("search_trajectories", {"query": "x", "k": "3"}, "search_trajectories: 'k' must be a JSON integer"),
        ("search_trajectories", {"query": "x", "outcome": "won"}, "'outcome' must be one of success"),
        ("get_successful_examples", {"task": "x", "min_score": 3}, "min_score must be in [0, 1], got 3"),
        (
            "search_trajectories",
            {"query": "x", "k": 10_000},
            '"k" must be between 1 and 100',
        ),  # the collector
    ],
)
def test_call_tool_answers_errors_as_json(
    client: trajotel.Client, name: str, arguments: object, error: str
) -> None:
    answer = json.loads(call_tool(name, arguments, client=client))  # type: ignore[arg-type]
    assert set(answer) <= {"error", "hint", "tool"} and answer["tool"] == name
    assert error in answer["error"]


def test_call_tool_answers_an_unreachable_collector_as_json(unreachable: trajotel.Client) -> None:
    for name, arguments in [("search_trajectories", {"query": "x"}), ("analyze_failure_patterns", {})]:
        answer = json.loads(call_tool(name, arguments, client=unreachable))
        assert answer["error"].startswith("cannot reach the trajotel collector at http://127.0.0.1:")
        assert "TRAJOTEL_ENDPOINT" in answer["hint"]
