"""smolagents ToolCallingAgent runs, for real, against the fake LLM server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from smolagents import OpenAIServerModel, ToolCallingAgent, tool

import trajotel
from trajotel import semconv as sc
from trajotel.instrument.smolagents import SmolagentsInstrumentor
from trajotel.testing import FakeLLMServer, Step

TASK = "What is the weather in Paris, and what is 21 + 21?"
ANSWER = "It is sunny and 22 C in Paris, and 21 + 21 = 42."
SCENARIOS = {
    "fake-smol": [
        Step.tool("get_weather", {"city": "Paris"}),
        Step.tool("add", {"a": 21, "b": 21}),
        Step.tool("final_answer", {"answer": ANSWER}),
    ],
    "fake-smol-parallel": [
        Step(tool_calls=(("get_weather", {"city": "Paris"}), ("add", {"a": 21, "b": 21}))),
        Step.tool("final_answer", {"answer": ANSWER}),
    ],
    "fake-smol-manager": [
        Step.tool("researcher", {"task": "Find the weather in Paris."}),
        Step.tool("final_answer", {"answer": ANSWER}),
    ],
    "fake-smol-researcher": [Step.tool("final_answer", {"answer": "sunny, 22 C"})],
}


@tool
def get_weather(city: str) -> str:
    """Current weather in a city.

    Args:
        city: The city.
    """
    return f"sunny, 22 C in {city}"


@tool
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: The first integer.
        b: The second integer.
    """
    return a + b


@pytest.fixture(scope="module")
def smol_llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(scenarios=SCENARIOS) as server:
        yield server


@pytest.fixture
def smolagents_instrumented(instrumented: None, tracer_provider: TracerProvider) -> Iterator[None]:
    instrumentor = SmolagentsInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    yield
    instrumentor.uninstrument()


def _agent(server: FakeLLMServer, model: str = "fake-smol", **kwargs: Any) -> ToolCallingAgent:
    llm = OpenAIServerModel(model_id=model, api_base=server.base_url, api_key="test-key")
    return ToolCallingAgent(tools=[get_weather, add], model=llm, verbosity_level=0, **kwargs)


def _by_operation(spans: Any, operation: str) -> list[ReadableSpan]:
    return [s for s in spans if s.attributes.get(sc.GEN_AI_OPERATION_NAME) == operation]


def _requested_calls(chats: list[ReadableSpan]) -> list[dict[str, Any]]:
    calls = []
    for chat in chats:
        (message,) = json.loads(chat.attributes[sc.GEN_AI_OUTPUT_MESSAGES])
        calls += [p for p in message["parts"] if p["type"] == "tool_call"]
    return calls


def test_a_run_is_one_trace_with_tool_spans_carrying_the_call_ids(
    smolagents_instrumented: None, smol_llm: FakeLLMServer, span_exporter: InMemorySpanExporter
) -> None:
    assert _agent(smol_llm).run(TASK) == ANSWER
    spans = span_exporter.get_finished_spans()
    (root,) = _by_operation(spans, sc.OP_INVOKE_AGENT)
    assert root.parent is None and root.name == "invoke_agent ToolCallingAgent"
    assert root.attributes[sc.TRAJOTEL_TASK] == TASK
    assert {s.context.trace_id for s in spans} == {root.context.trace_id}
    chats, tools = _by_operation(spans, sc.OP_CHAT), _by_operation(spans, sc.OP_EXECUTE_TOOL)
    assert len(chats) == 3
    requested = _requested_calls(chats)
    assert [(t.attributes[sc.GEN_AI_TOOL_NAME], t.attributes[sc.GEN_AI_TOOL_CALL_ID]) for t in tools] == [
        (c["name"], c["id"]) for c in requested
    ]
    results = [json.loads(t.attributes[sc.GEN_AI_TOOL_CALL_RESULT]) for t in tools]
    assert results == ["sunny, 22 C in Paris", 42, ANSWER]
    assert [json.loads(t.attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS]) for t in tools] == [
        c["arguments"] for c in requested
    ]
    assert all(t.attributes[sc.GEN_AI_AGENT_NAME] == "ToolCallingAgent" for t in tools)


def test_parallel_tool_calls_each_get_their_own_id(
    smolagents_instrumented: None, smol_llm: FakeLLMServer, span_exporter: InMemorySpanExporter
) -> None:
    assert _agent(smol_llm, "fake-smol-parallel").run(TASK) == ANSWER
    spans = span_exporter.get_finished_spans()
    (root,) = _by_operation(spans, sc.OP_INVOKE_AGENT)
    requested = {c["name"]: c["id"] for c in _requested_calls(_by_operation(spans, sc.OP_CHAT))}
    tools = _by_operation(spans, sc.OP_EXECUTE_TOOL)
    assert {
        t.attributes[sc.GEN_AI_TOOL_NAME]: t.attributes[sc.GEN_AI_TOOL_CALL_ID] for t in tools
    } == requested
    # Run on worker threads, still in the run's trace.
    assert {t.context.trace_id for t in tools} == {root.context.trace_id}


def test_a_streamed_run_ends_when_its_generator_does(
    smolagents_instrumented: None, smol_llm: FakeLLMServer, span_exporter: InMemorySpanExporter
) -> None:
    steps = list(_agent(smol_llm).run(TASK, stream=True))
    assert steps[-1].output == ANSWER
    (root,) = _by_operation(span_exporter.get_finished_spans(), sc.OP_INVOKE_AGENT)
    assert len(_by_operation(span_exporter.get_finished_spans(), sc.OP_EXECUTE_TOOL)) == 3
    assert root.end_time is not None


def test_a_managed_agent_is_a_sub_agent_of_its_manager(
    smolagents_instrumented: None, smol_llm: FakeLLMServer, span_exporter: InMemorySpanExporter
) -> None:
    researcher = _agent(smol_llm, "fake-smol-researcher", name="researcher", description="Looks things up.")
    manager = _agent(smol_llm, "fake-smol-manager", managed_agents=[researcher])
    assert manager.run(TASK) == ANSWER
    spans = span_exporter.get_finished_spans()
    agents = {s.attributes[sc.GEN_AI_AGENT_NAME]: s for s in _by_operation(spans, sc.OP_INVOKE_AGENT)}
    assert set(agents) == {"ToolCallingAgent", "researcher"}
    (delegation,) = [s for s in spans if s.name == "execute_tool researcher"]
    assert agents["ToolCallingAgent"].parent is None
    assert agents["researcher"].parent.span_id == delegation.context.span_id
    assert delegation.attributes[sc.GEN_AI_TOOL_DESCRIPTION] == "Looks things up."


def test_inside_a_trajectory_the_run_adds_no_agent_span(
    smolagents_instrumented: None,
    smol_llm: FakeLLMServer,
    span_exporter: InMemorySpanExporter,
    tracer_provider: TracerProvider,
) -> None:
    with trajotel.trajectory(task=TASK, agent="mine", tracer_provider=tracer_provider):
        _agent(smol_llm).run(TASK)
    (root,) = _by_operation(span_exporter.get_finished_spans(), sc.OP_INVOKE_AGENT)
    assert root.attributes[sc.GEN_AI_AGENT_NAME] == "mine"


def test_a_failing_tool_is_recorded_and_the_agent_carries_on(
    smolagents_instrumented: None, smol_llm: FakeLLMServer, span_exporter: InMemorySpanExporter
) -> None:
    @tool
    def get_weather(city: str) -> str:
        """Current weather in a city.

        Args:
            city: The city.
        """
        raise RuntimeError("weather service down")

    llm = OpenAIServerModel(model_id="fake-smol", api_base=smol_llm.base_url, api_key="k")
    agent = ToolCallingAgent(tools=[get_weather, add], model=llm, verbosity_level=0, max_steps=2)
    agent.run(TASK)  # smolagents turns the tool error into an observation for the model
    failed = [s for s in span_exporter.get_finished_spans() if s.name == "execute_tool get_weather"]
    assert failed and all(s.attributes[sc.ERROR_TYPE] == "AgentToolExecutionError" for s in failed)


def test_uninstrument_restores_everything(
    instrumented: None,
    tracer_provider: TracerProvider,
    smol_llm: FakeLLMServer,
    span_exporter: InMemorySpanExporter,
) -> None:
    from smolagents.agents import MultiStepAgent

    originals = (MultiStepAgent.run, ToolCallingAgent.execute_tool_call, ToolCallingAgent.process_tool_calls)
    instrumentor = SmolagentsInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    instrumentor.uninstrument()
    assert (
        MultiStepAgent.run,
        ToolCallingAgent.execute_tool_call,
        ToolCallingAgent.process_tool_calls,
    ) == originals
    _agent(smol_llm).run(TASK)
    spans = span_exporter.get_finished_spans()
    assert len(spans) == 3 and not _by_operation(spans, sc.OP_INVOKE_AGENT)  # only the openai chat spans
    assert instrumentor.instrumentation_dependencies() == ("smolagents >= 1.0",)
