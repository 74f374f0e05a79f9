"""Hypothesis strategies for agent runs, recorded as the spans trajotel's instrumentation emits
(GenAI 1.37: ``invoke_agent`` roots, ``chat`` calls with the whole history in
``gen_ai.input.messages``, ``execute_tool`` spans linked by ``gen_ai.tool.call.id``), through the
real OpenTelemetry SDK with explicit, distinct times.

A run is a plan (plain data, so hypothesis can shrink it) turned into spans by ``record``.
Several agents of one process are interleaved in time. An agent either has a root span (with,
maybe, a sub-agent inside it) or is a flat loop: one trace per model call, threaded by history.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
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
    tools: tuple[ToolPlan, ...]  # parallel tool calls of this turn; none = the final answer
    fails: bool = False  # the model call itself failed (ends the run)


@dataclass(frozen=True)
class AgentPlan:
    task: str
    turns: tuple[TurnPlan, ...]
    rooted: bool  # an invoke_agent root span; else a flat loop
    sub_agent: bool = False  # rooted only: a sub-agent with one model call after the first turn


@dataclass
class _Clock:
    now: int

    def tick(self) -> int:
        self.now += STEP
        return self.now


_tool = st.builds(
    ToolPlan,
    name=st.sampled_from(["search", "read_file", "run_tests"]),
    traced=st.booleans(),
    fails=st.booleans(),
)
_turn = st.builds(TurnPlan, tools=st.lists(_tool, min_size=1, max_size=3).map(tuple))


@st.composite
def agent_plans(draw: st.DrawFn, task: str) -> AgentPlan:
    turns = draw(st.lists(_turn, min_size=0, max_size=3))
    last = TurnPlan(tools=(), fails=draw(st.booleans()))
    rooted = draw(st.booleans())
    return AgentPlan(task, (*turns, last), rooted, sub_agent=rooted and bool(turns) and draw(st.booleans()))


@st.composite
def runs(draw: st.DrawFn) -> list[AgentPlan]:
    """1-2 agents of one process, each with its own task (and so its own history)."""
    count = draw(st.integers(min_value=1, max_value=2))
    return [
        draw(agent_plans(f"task {i}: {draw(st.text('abc ', min_size=1, max_size=8))}")) for i in range(count)
    ]


@dataclass
class _Agent:
    plan: AgentPlan
    clock: _Clock
    history: list[dict[str, Any]] = field(default_factory=list)


def _message(role: str, *parts: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": role, "parts": list(parts)}
    if finish:
        message["finish_reason"] = finish
    return message


def _chat(
    tracer: trace.Tracer, agent: _Agent, turn: TurnPlan, index: int, context: Any
) -> list[tuple[str, str]]:
    """One model call; returns its tool calls (id, name)."""
    calls = [(f"call_{agent.plan.task[:6]}_{index}_{k}", tool.name) for k, tool in enumerate(turn.tools)]
    if calls:
        output = _message(
            "assistant",
            *(
                {"type": "tool_call", "id": i, "name": n, "arguments": {"k": k}}
                for k, (i, n) in enumerate(calls)
            ),
            finish="tool_call",
        )
    else:
        output = _message("assistant", {"type": "text", "content": f"done {agent.plan.task}"}, finish="stop")
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "m",
        "gen_ai.input.messages": json.dumps(agent.history),
        "gen_ai.response.id": f"resp_{agent.plan.task}_{index}",
    }
    if not turn.fails:
        attributes["gen_ai.output.messages"] = json.dumps([output])
        attributes["gen_ai.response.finish_reasons"] = (output["finish_reason"],)
    span = tracer.start_span(
        "chat m", context=context, kind=SpanKind.CLIENT, attributes=attributes, start_time=agent.clock.tick()
    )
    if turn.fails:
        span.set_attribute("error.type", "APIError")
        span.set_status(Status(StatusCode.ERROR, "the model failed"))
    span.end(end_time=agent.clock.tick())
    if turn.fails:
        return []
    agent.history.append({k: v for k, v in output.items() if k != "finish_reason"})
    return calls


def _tools(
    tracer: trace.Tracer, agent: _Agent, turn: TurnPlan, calls: list[tuple[str, str]], context: Any
) -> None:
    for tool, (call_id, name) in zip(turn.tools, calls, strict=True):
        result = "error: it failed" if tool.fails else f"result of {call_id}"
        # A flat loop runs its tools outside any span: they would be traces of their own.
        if tool.traced and agent.plan.rooted:
            attributes = {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": name,
                "gen_ai.tool.call.id": call_id,
                "gen_ai.tool.call.arguments": "{}",
                "gen_ai.tool.call.result": result,
            }
            span = tracer.start_span(
                f"execute_tool {name}", context=context, attributes=attributes, start_time=agent.clock.tick()
            )
            if tool.fails:
                span.set_attribute("error.type", "ToolError")
                span.set_status(Status(StatusCode.ERROR, "the tool failed"))
            span.end(end_time=agent.clock.tick())
        agent.history.append(
            _message("tool", {"type": "tool_call_response", "id": call_id, "response": result})
        )


def _loop(tracer: trace.Tracer, agent: _Agent, context_of_turn: Any) -> None:
    for index, turn in enumerate(agent.plan.turns):
        context = context_of_turn()
        calls = _chat(tracer, agent, turn, index, context)
        _tools(tracer, agent, turn, calls, context)
        if turn.fails:
            return


def _rooted(tracer: trace.Tracer, agent: _Agent) -> None:
    attributes = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "agent",
        "trajotel.task": agent.plan.task,
    }
    root = tracer.start_span("invoke_agent agent", attributes=attributes, start_time=agent.clock.tick())
    context = trace.set_span_in_context(root)
    first, *rest = agent.plan.turns
    _loop(
        tracer,
        _Agent(AgentPlan(agent.plan.task, (first,), True), agent.clock, agent.history),
        lambda: context,
    )
    if agent.plan.sub_agent:
        sub_attributes = {
            **attributes,
            "gen_ai.agent.name": "helper",
            "trajotel.task": f"help with {agent.plan.task}",
        }
        sub = tracer.start_span(
            "invoke_agent helper", context=context, attributes=sub_attributes, start_time=agent.clock.tick()
        )
        helper = _Agent(AgentPlan(f"help {agent.plan.task}", (TurnPlan(()),), True), agent.clock)
        helper.history.append(_message("user", {"type": "text", "content": f"help {agent.plan.task}"}))
        sub_context = trace.set_span_in_context(sub)
        _loop(tracer, helper, lambda: sub_context)
        sub.end(end_time=agent.clock.tick())
    if not first.fails:
        _loop(
            tracer,
            _Agent(AgentPlan(agent.plan.task, tuple(rest), True), agent.clock, agent.history),
            lambda: context,
        )
    root.end(end_time=agent.clock.tick())


def record(plans: list[AgentPlan]) -> list[ReadableSpan]:
    """The spans of the run, as an exporter receives them (in end order)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "generated-agents"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.generated")
    for number, plan in enumerate(plans):
        # Agents run at the same time: each starts half a step after the previous one.
        agent = _Agent(plan, _Clock(T0 + number * STEP // 2 + number))
        agent.history.append(_message("system", {"type": "text", "content": f"You are agent {number}."}))
        agent.history.append(_message("user", {"type": "text", "content": plan.task}))
        if plan.rooted:
            _rooted(tracer, agent)
        else:
            _loop(tracer, agent, lambda: trace.set_span_in_context(trace.INVALID_SPAN))
    spans = sorted(exporter.get_finished_spans(), key=lambda s: (s.end_time, s.context.span_id))
    provider.shutdown()
    return spans
