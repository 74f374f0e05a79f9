"""LangChain tools and LangGraph graphs, for real, against the fake LLM server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from langchain_core.tools import StructuredTool, ToolException, tool
from langchain_openai import ChatOpenAI
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import create_react_agent
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import trajotel
from trajotel import semconv as sc
from trajotel.instrument.langchain import LangChainInstrumentor, LangGraphInstrumentor
from trajotel.testing import FakeLLMServer

TASK = "What is the weather in Paris, and what is 21 + 21?"
WEATHER = {"city": "Paris", "sky": "sunny", "celsius": 22}


@tool
def get_weather(city: str) -> dict[str, Any]:
    """Current weather in a city."""
    return {**WEATHER, "city": city}


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@pytest.fixture
def frameworks(instrumented: None, tracer_provider: TracerProvider) -> Iterator[None]:
    tools, graphs = LangChainInstrumentor(), LangGraphInstrumentor()
    tools.instrument(tracer_provider=tracer_provider)
    graphs.instrument(tracer_provider=tracer_provider)
    yield
    tools.uninstrument()
    graphs.uninstrument()


def _agent(fake_llm: FakeLLMServer, **kwargs: Any) -> Any:
    model = ChatOpenAI(model="gpt-4o-mini", base_url=fake_llm.base_url, api_key="test-key", max_retries=0)
    return create_react_agent(model, [get_weather, add], **kwargs)


def _by_operation(spans: list[ReadableSpan], operation: str) -> list[ReadableSpan]:
    return [s for s in spans if s.attributes.get(sc.GEN_AI_OPERATION_NAME) == operation]


def _output_tool_calls(chat: ReadableSpan) -> list[dict[str, Any]]:
    (message,) = json.loads(chat.attributes[sc.GEN_AI_OUTPUT_MESSAGES])
    return [p for p in message["parts"] if p["type"] == "tool_call"]


def _assert_one_agent_run(spans: list[ReadableSpan], agent: str = "LangGraph") -> None:
    (root,) = _by_operation(spans, sc.OP_INVOKE_AGENT)
    assert root.parent is None and root.name == f"invoke_agent {agent}"
    assert root.attributes[sc.GEN_AI_AGENT_NAME] == agent
    assert root.attributes[sc.TRAJOTEL_TASK] == TASK
    assert {s.context.trace_id for s in spans} == {root.context.trace_id}
    chats = _by_operation(spans, sc.OP_CHAT)
    tools = _by_operation(spans, sc.OP_EXECUTE_TOOL)
    assert len(chats) == 3 and len(tools) == 2
    # Each tool span carries the id of the tool call the model made, and what the tool returned.
    requested = [call for chat in chats for call in _output_tool_calls(chat)]
    assert [t.attributes[sc.GEN_AI_TOOL_CALL_ID] for t in tools] == [c["id"] for c in requested]
    assert [t.name for t in tools] == ["execute_tool get_weather", "execute_tool add"]
    assert [json.loads(t.attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS]) for t in tools] == [
        c["arguments"] for c in requested
    ]
    assert json.loads(tools[0].attributes[sc.GEN_AI_TOOL_CALL_RESULT]) == WEATHER
    assert json.loads(tools[1].attributes[sc.GEN_AI_TOOL_CALL_RESULT]) == 42
    assert tools[0].attributes[sc.GEN_AI_TOOL_DESCRIPTION] == "Current weather in a city."


def test_react_agent_invoke_is_one_run(
    frameworks: None, fake_llm: FakeLLMServer, span_exporter: InMemorySpanExporter
) -> None:
    result = _agent(fake_llm).invoke({"messages": [("user", TASK)]})
    assert "42" in result["messages"][-1].content
    _assert_one_agent_run(list(span_exporter.get_finished_spans()))


def test_react_agent_stream_is_one_run_and_the_caller_runs_outside_it(
    frameworks: None, fake_llm: FakeLLMServer, span_exporter: InMemorySpanExporter
) -> None:
    from opentelemetry import trace

    seen_outside = []
    for _chunk in _agent(fake_llm, name="weather-agent").stream({"messages": [HumanMessage(TASK)]}):
        seen_outside.append(trace.get_current_span().get_span_context().is_valid)
    assert seen_outside and not any(seen_outside)
    _assert_one_agent_run(list(span_exporter.get_finished_spans()), agent="weather-agent")


def test_react_agent_ainvoke_and_astream_are_one_run_each(
    frameworks: None, fake_llm: FakeLLMServer, span_exporter: InMemorySpanExporter
) -> None:
    agent = _agent(fake_llm)

    async def main() -> None:
        await agent.ainvoke({"messages": [{"role": "user", "content": TASK}]})
        _assert_one_agent_run(list(span_exporter.get_finished_spans()))
        span_exporter.clear()
        async for _ in agent.astream({"messages": [("user", TASK)]}, stream_mode="values"):
            pass

    asyncio.run(main())
    _assert_one_agent_run(list(span_exporter.get_finished_spans()))


def test_an_abandoned_stream_ends_its_run(
    frameworks: None, fake_llm: FakeLLMServer, span_exporter: InMemorySpanExporter
) -> None:
    stream = _agent(fake_llm).stream({"messages": [("user", TASK)]})
    next(stream)
    stream.close()
    (root,) = _by_operation(list(span_exporter.get_finished_spans()), sc.OP_INVOKE_AGENT)
    assert root.status.is_ok and len(_by_operation(list(span_exporter.get_finished_spans()), sc.OP_CHAT)) == 1


def test_a_failing_run_marks_the_agent_span_and_reraises(
    frameworks: None, fake_llm: FakeLLMServer, span_exporter: InMemorySpanExporter
) -> None:
    model = ChatOpenAI(model="fake-error", base_url=fake_llm.base_url, api_key="k", max_retries=0)
    import openai

    with pytest.raises(openai.InternalServerError) as raised:
        create_react_agent(model, [add]).invoke({"messages": [("user", TASK)]})
    (root,) = _by_operation(list(span_exporter.get_finished_spans()), sc.OP_INVOKE_AGENT)
    # langchain-openai re-raises the SDK error as its own subclass; the span names what was raised.
    assert root.attributes[sc.ERROR_TYPE] == type(raised.value).__qualname__
    assert not root.status.is_ok


def test_inside_a_trajectory_the_graph_adds_no_agent_span(
    frameworks: None, fake_llm: FakeLLMServer, span_exporter: InMemorySpanExporter, tracer_provider: Any
) -> None:
    with trajotel.trajectory(task="mine", agent="outer", tracer_provider=tracer_provider):
        _agent(fake_llm).invoke({"messages": [("user", TASK)]})
    (root,) = _by_operation(list(span_exporter.get_finished_spans()), sc.OP_INVOKE_AGENT)
    assert root.attributes[sc.GEN_AI_AGENT_NAME] == "outer"


def test_trajotel_reward_inside_a_graph_run_labels_the_run(
    frameworks: None, span_exporter: InMemorySpanExporter
) -> None:
    def judge(state: MessagesState) -> dict[str, Any]:
        trajotel.reward(1.0)
        return {}

    graph = StateGraph(MessagesState).add_node("judge", judge).add_edge(START, "judge").compile()
    graph.invoke({"messages": [("user", TASK)]})
    (root,) = _by_operation(list(span_exporter.get_finished_spans()), sc.OP_INVOKE_AGENT)
    assert root.attributes[sc.TRAJOTEL_REWARD] == 1.0


def test_a_subgraph_is_part_of_the_run_but_a_graph_run_by_a_tool_is_a_sub_agent(
    frameworks: None, fake_llm: FakeLLMServer, span_exporter: InMemorySpanExporter
) -> None:
    inner = StateGraph(MessagesState).add_node("noop", lambda s: {}).add_edge(START, "noop").compile()
    outer = StateGraph(MessagesState).add_node("inner", inner).add_edge(START, "inner").compile(name="outer")
    outer.invoke({"messages": [("user", TASK)]})
    (root,) = _by_operation(list(span_exporter.get_finished_spans()), sc.OP_INVOKE_AGENT)
    assert root.name == "invoke_agent outer"
    span_exporter.clear()

    researcher = _agent(fake_llm, name="researcher")

    @tool
    def research(question: str) -> str:
        """Ask the research agent."""
        return researcher.invoke({"messages": [("user", question)]})["messages"][-1].content

    supervisor = StateGraph(MessagesState)
    supervisor.add_node("ask", lambda s: {"messages": [("ai", research.invoke({"question": TASK}))]})
    supervisor.add_edge(START, "ask")
    supervisor.compile(name="supervisor").invoke({"messages": [("user", "delegate")]})
    spans = list(span_exporter.get_finished_spans())
    parent, child = sorted(_by_operation(spans, sc.OP_INVOKE_AGENT), key=lambda s: s.start_time or 0)
    (research_span,) = [s for s in spans if s.name == "execute_tool research"]
    assert parent.name == "invoke_agent supervisor" and child.name == "invoke_agent researcher"
    assert child.parent is not None and child.parent.span_id == research_span.context.span_id
    assert child.attributes[sc.TRAJOTEL_TASK] == TASK


# --- tools on their own -------------------------------------------------------------------------


def test_invoke_with_a_tool_call_is_one_span_with_the_call_id(
    frameworks: None, span_exporter: InMemorySpanExporter
) -> None:
    message = add.invoke({"type": "tool_call", "id": "call_7", "name": "add", "args": {"a": 2, "b": 3}})
    assert message.content == "5" and message.tool_call_id == "call_7"
    (span,) = span_exporter.get_finished_spans()
    assert span.attributes[sc.GEN_AI_TOOL_CALL_ID] == "call_7"
    assert span.attributes[sc.GEN_AI_TOOL_TYPE] == "function"
    assert json.loads(span.attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS]) == {"a": 2, "b": 3}
    assert json.loads(span.attributes[sc.GEN_AI_TOOL_CALL_RESULT]) == 5


def test_run_arun_and_invoke_without_an_id_are_one_span_each(
    frameworks: None, span_exporter: InMemorySpanExporter
) -> None:
    assert add.run({"a": 1, "b": 1}) == 2
    assert add.invoke({"a": 1, "b": 2}) == 3
    assert asyncio.run(add.ainvoke({"a": 1, "b": 3})) == 4
    assert asyncio.run(add.arun({"a": 1, "b": 4})) == 5
    spans = span_exporter.get_finished_spans()
    assert [json.loads(s.attributes[sc.GEN_AI_TOOL_CALL_RESULT]) for s in spans] == [2, 3, 4, 5]
    assert all(sc.GEN_AI_TOOL_CALL_ID not in s.attributes for s in spans)


def test_a_trajotel_tool_call_block_gives_the_id(
    frameworks: None, span_exporter: InMemorySpanExporter
) -> None:
    with trajotel.tool_call("call_9"):
        add.invoke({"a": 1, "b": 1})
    (span,) = span_exporter.get_finished_spans()
    assert span.attributes[sc.GEN_AI_TOOL_CALL_ID] == "call_9"


def test_a_function_also_decorated_with_trajotel_tool_is_one_span(
    frameworks: None, span_exporter: InMemorySpanExporter, tracer_provider: Any
) -> None:
    @trajotel.tool(tracer_provider=tracer_provider)
    def multiply(a: int, b: int) -> int:
        """Multiply two integers."""
        return a * b

    lc_multiply = StructuredTool.from_function(multiply)
    assert lc_multiply.invoke({"type": "tool_call", "id": "c1", "name": "multiply", "args": {"a": 6, "b": 7}})
    (span,) = span_exporter.get_finished_spans()
    assert span.attributes[sc.GEN_AI_TOOL_CALL_ID] == "c1"
    assert json.loads(span.attributes[sc.GEN_AI_TOOL_CALL_RESULT]) == 42


def test_a_tool_calling_another_tool_gives_nested_spans(
    frameworks: None, span_exporter: InMemorySpanExporter
) -> None:
    @tool
    def double_add(a: int, b: int) -> int:
        """Add, twice."""
        return add.invoke({"a": a, "b": b}) * 2

    assert double_add.invoke({"a": 1, "b": 2}) == 6
    inner, outer = span_exporter.get_finished_spans()
    assert (inner.name, outer.name) == ("execute_tool add", "execute_tool double_add")
    assert inner.parent is not None and inner.parent.span_id == outer.context.span_id


def test_tool_errors_raised_and_handled(frameworks: None, span_exporter: InMemorySpanExporter) -> None:
    def broken(x: int) -> int:
        raise ValueError("no luck")

    raising = StructuredTool.from_function(broken, name="broken", description="Fails.")
    with pytest.raises(ValueError, match="no luck"):
        raising.invoke({"x": 1})

    def refuse(x: int) -> int:
        raise ToolException("refused")

    handled = StructuredTool.from_function(
        refuse, name="refuse", description="Refuses.", handle_tool_error=True
    )
    message = handled.invoke({"type": "tool_call", "id": "c2", "name": "refuse", "args": {"x": 1}})
    assert message.status == "error" and message.content == "refused"
    raised, returned = span_exporter.get_finished_spans()
    assert raised.attributes[sc.ERROR_TYPE] == "ValueError" and not raised.status.is_ok
    assert returned.attributes[sc.ERROR_TYPE] == sc.ERROR_TYPE_TOOL_ERROR and not returned.status.is_ok
    assert json.loads(returned.attributes[sc.GEN_AI_TOOL_CALL_RESULT]) == "refused"


def test_no_content_mode_records_no_arguments_or_results(
    frameworks: None, span_exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(sc.ENV_CAPTURE_MESSAGE_CONTENT, "NO_CONTENT")
    add.invoke({"a": 1, "b": 1})
    (span,) = span_exporter.get_finished_spans()
    assert sc.GEN_AI_TOOL_CALL_ARGUMENTS not in span.attributes
    assert sc.GEN_AI_TOOL_CALL_RESULT not in span.attributes
    assert span.attributes[sc.GEN_AI_TOOL_NAME] == "add"


def test_uninstrument_restores_everything(
    tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter, fake_llm: FakeLLMServer
) -> None:
    from langchain_core.tools import base
    from langgraph.pregel.main import Pregel

    originals = (base.BaseTool.run, base.BaseTool.arun, base._format_output, Pregel.invoke, Pregel.astream)
    tools, graphs = LangChainInstrumentor(), LangGraphInstrumentor()
    tools.instrument(tracer_provider=tracer_provider)
    graphs.instrument(tracer_provider=tracer_provider)
    assert base.BaseTool.run is not originals[0]
    tools.uninstrument()
    graphs.uninstrument()
    assert (
        base.BaseTool.run,
        base.BaseTool.arun,
        base._format_output,
        Pregel.invoke,
        Pregel.astream,
    ) == originals
    _agent(fake_llm).invoke({"messages": [("user", TASK)]})
    assert add.invoke({"a": 1, "b": 1}) == 2
    assert span_exporter.get_finished_spans() == ()


def test_instrumentors_name_their_libraries() -> None:
    assert LangChainInstrumentor().instrumentation_dependencies() == ("langchain-core >= 0.3",)
    assert LangGraphInstrumentor().instrumentation_dependencies() == ("langgraph >= 0.3",)
