"""Hypothesis strategies for agent runs, recorded as the spans trajotel's instrumentation emits
(GenAI 1.37: ``invoke_agent`` roots, ``chat`` calls with the whole history in
``gen_ai.input.messages``, ``execute_tool`` spans linked by ``gen_ai.tool.call.id``), through the
real OpenTelemetry SDK with explicit, distinct times.

A run is a plan (plain data, so hypothesis can shrink it) that ``record`` turns into spans.
Several agents of one process run at the same time, their spans interleaved. An agent has either
an ``invoke_agent`` root (maybe with a sub-agent inside it) or is a flat loop: one trace per model
call, threaded by its message history. Every agent has its own task, and maybe its own system
prompt, so no two histories are alike (identical ones cannot be told apart: ``assemble.linking``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

T0 = 1_800_000_000_000_000_000
STEP = 1_000_000  # 1 ms between consecutive span boundaries of one agent


@dataclass(frozen=True)
class ToolPlan:
    name: str
    traced: bool  # an execute_tool span was recorded (else the result is read from the next input)
    fails: bool


@dataclass(frozen=True)
class TurnPlan:
    tools: tuple[ToolPlan, ...] = ()  # parallel tool calls of this turn; none = the final answer
    streamed: bool = False
    fails: bool = False  # the model call itself failed (only the last turn: it ends the run)


@dataclass(frozen=True)
class AgentPlan:
    turns: tuple[TurnPlan, ...]
    rooted: bool  # an invoke_agent root span; else a flat loop
    # "openai": the system prompt is the first input message (chat completions); "anthropic": it is
    # in gen_ai.system_instructions (messages API).
    provider: str = "openai"
    sub_agent: tuple[TurnPlan, ...] = ()  # rooted only: a sub-agent's turns, run after the first turn


_tool = st.builds(
    ToolPlan,
    name=st.sampled_from(["search", "read_file", "run_tests"]),
    traced=st.booleans(),
    fails=st.booleans(),
)
_tool_turn = st.builds(
    TurnPlan, tools=st.lists(_tool, min_size=1, max_size=3).map(tuple), streamed=st.booleans()
)
_last_turn = st.builds(TurnPlan, streamed=st.booleans(), fails=st.booleans())


def _turns(max_tool_turns: int) -> st.SearchStrategy[tuple[TurnPlan, ...]]:
    """Turns with tool calls, then one without (the answer, or a failed call)."""
    tool_turns = st.lists(_tool_turn, max_size=max_tool_turns)
    return st.tuples(tool_turns, _last_turn).map(lambda parts: (*parts[0], parts[1]))


@st.composite
def agent_plans(draw: st.DrawFn) -> AgentPlan:
    turns = draw(_turns(max_tool_turns=5))
    rooted = draw(st.booleans())
    provider = draw(st.sampled_from(["openai", "anthropic"]))
    with_sub_agent = rooted and len(turns) > 1 and draw(st.booleans())
    sub_agent = draw(_turns(max_tool_turns=1)) if with_sub_agent else ()
    return AgentPlan(turns, rooted, provider, sub_agent)


@dataclass(frozen=True)
class Run:
    """The agents of one process, all running at the same time."""

    agents: tuple[AgentPlan, ...]
    same_system_prompt: bool  # then only their tasks (first user messages) tell them apart


def runs(max_agents: int = 3) -> st.SearchStrategy[Run]:
    return st.builds(Run, st.lists(agent_plans(), min_size=1, max_size=max_agents).map(tuple), st.booleans())


@dataclass
class _Agent:
    name: str  # unique in the run: it makes call and response ids unique
    task: str
    rooted: bool
    provider: str
    clock: list[int]  # [now], shared with the agent's sub-agents
    system_instructions: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    calls: int = 0

    def tick(self) -> int:
        self.clock[0] += STEP
        return self.clock[0]


def _message(role: str, *parts: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": role, "parts": list(parts)}
    if finish:
        message["finish_reason"] = finish
    return message


def _failed(span: trace.Span, error_type: str) -> None:
    span.set_attribute("error.type", error_type)
    span.set_status(Status(StatusCode.ERROR, f"{error_type} raised"))


def _output(agent: _Agent, turn: TurnPlan) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The model's answer and its tool calls (id, name)."""
    calls = [(f"call_{agent.name}_{agent.calls}_{k}", tool.name) for k, tool in enumerate(turn.tools)]
    if not calls:
        return _message("assistant", {"type": "text", "content": f"done: {agent.task}"}, finish="stop"), []
    parts = (
        {"type": "tool_call", "id": i, "name": n, "arguments": {"k": k}} for k, (i, n) in enumerate(calls)
    )
    return _message("assistant", *parts, finish="tool_call"), calls


def _chat(tracer: trace.Tracer, agent: _Agent, turn: TurnPlan, context: Any) -> list[tuple[str, str]]:
    """One model call; returns its tool calls (id, name)."""
    agent.calls += 1
    output, calls = _output(agent, turn)
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": agent.provider,
        "gen_ai.request.model": "m",
        "gen_ai.input.messages": json.dumps(agent.history),
        "gen_ai.usage.input_tokens": 10 * len(agent.history),
    }
    if agent.system_instructions:
        attributes["gen_ai.system_instructions"] = json.dumps(agent.system_instructions)
    if turn.streamed:
        attributes["gen_ai.request.stream"] = True
        attributes["gen_ai.response.time_to_first_chunk"] = 0.25
    if not turn.fails:
        attributes["gen_ai.response.id"] = f"resp_{agent.name}_{agent.calls}"
        attributes["gen_ai.response.model"] = "m-2026"
        attributes["gen_ai.output.messages"] = json.dumps([output])
        attributes["gen_ai.response.finish_reasons"] = (output["finish_reason"],)
        attributes["gen_ai.usage.output_tokens"] = 5 + len(calls)
    span = tracer.start_span("chat m", context, SpanKind.CLIENT, attributes, start_time=agent.tick())
    if turn.fails:
        _failed(span, "APIError")
    span.end(end_time=agent.tick())
    if turn.fails:
        return []
    agent.history.append({k: v for k, v in output.items() if k != "finish_reason"})
    return calls


def _tools(
    tracer: trace.Tracer, agent: _Agent, turn: TurnPlan, calls: list[tuple[str, str]], context: Any
) -> None:
    for tool, (call_id, name) in zip(turn.tools, calls, strict=True):
        result = f"error: {name} failed" if tool.fails else f"result of {call_id}"
        # A flat loop runs its tools outside any span, so they are never traced.
        if tool.traced and agent.rooted:
            attributes = {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": name,
                "gen_ai.tool.call.id": call_id,
                "gen_ai.tool.call.arguments": "{}",
                "gen_ai.tool.call.result": result,
            }
            span = tracer.start_span(
                f"execute_tool {name}", context, attributes=attributes, start_time=agent.tick()
            )
            if tool.fails:
                _failed(span, "ToolError")
            span.end(end_time=agent.tick())
        agent.history.append(
            _message("tool", {"type": "tool_call_response", "id": call_id, "response": result})
        )


def _loop(tracer: trace.Tracer, agent: _Agent, turns: tuple[TurnPlan, ...], context: Any) -> bool:
    """The turns, each in ``context`` (an empty one: each model call roots a trace of its own);
    False when a model call failed."""
    for turn in turns:
        calls = _chat(tracer, agent, turn, context)
        _tools(tracer, agent, turn, calls, context)
        if turn.fails:
            return False
    return True


def _invoke_agent(
    tracer: trace.Tracer,
    agent: _Agent,
    turns: tuple[TurnPlan, ...],
    sub_agent: tuple[TurnPlan, ...],
    parent: Any,
) -> bool:
    attributes = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": agent.name,
        "trajotel.task": agent.task,
    }
    root = tracer.start_span(
        f"invoke_agent {agent.name}", parent, attributes=attributes, start_time=agent.tick()
    )
    context = trace.set_span_in_context(root)
    first, rest = turns[:1], turns[1:]
    ok = _loop(tracer, agent, first, context)
    if ok and sub_agent:
        helper = _Agent(f"{agent.name}_helper", f"help with {agent.task}", True, agent.provider, agent.clock)
        helper.history.append(_message("user", {"type": "text", "content": helper.task}))
        _invoke_agent(tracer, helper, sub_agent, (), context)
    ok = ok and _loop(tracer, agent, rest, context)
    if not ok:  # the model call's error went up through the agent
        _failed(root, "APIError")
    root.end(end_time=agent.tick())
    return ok


def record(run: Run) -> list[ReadableSpan]:
    """The spans of the run, as an exporter receives them (in end order)."""
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=Resource.create({"service.name": "generated-agents"}))
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = tracer_provider.get_tracer("tests.generated")
    for number, plan in enumerate(run.agents):
        # The agents run at the same time: each starts a fraction of a step after the previous one.
        clock = [T0 + number * (STEP // 8)]
        agent = _Agent(f"agent{number}", f"task {number}", plan.rooted, plan.provider, clock)
        prompt = {
            "type": "text",
            "content": "You are an agent." if run.same_system_prompt else f"You are agent {number}.",
        }
        if plan.provider == "anthropic":
            agent.system_instructions.append(prompt)
        else:
            agent.history.append(_message("system", prompt))
        agent.history.append(_message("user", {"type": "text", "content": agent.task}))
        if plan.rooted:
            _invoke_agent(tracer, agent, plan.turns, plan.sub_agent, otel_context.Context())
        else:
            _loop(tracer, agent, plan.turns, otel_context.Context())
    spans = sorted(exporter.get_finished_spans(), key=lambda s: (s.end_time, s.context.span_id))
    tracer_provider.shutdown()
    return spans
