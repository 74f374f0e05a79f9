"""Plain agent loops with no root span, run with the real openai SDK and trajotel's openai
instrumentation against the fake LLM server: every model call is a trace of its own."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import openai
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from trajotel.instrument.openai import OpenAIInstrumentor
from trajotel.testing import FakeLLMServer

TOOLS = [
    {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
    for name in ("get_weather", "add")
]
RESULTS = {"get_weather": "sunny, 22 C", "add": 42}


@dataclass
class FlatRun:
    """Traces in the order their model calls were made, per agent."""

    traces: list[list[ReadableSpan]] = field(default_factory=list)
    agent_of: list[int] = field(default_factory=list)
    histories: list[list[dict[str, Any]]] = field(default_factory=list)

    @staticmethod
    def trace_id(trace: list[ReadableSpan]) -> str:
        return format(trace[0].context.trace_id, "032x")

    def traces_of(self, agent: int) -> list[list[ReadableSpan]]:
        return [t for t, a in zip(self.traces, self.agent_of, strict=True) if a == agent]


def run_flat_agents(
    fake: FakeLLMServer,
    tasks: list[str],
    *,
    system: str | list[str] = "Use the tools.",
    service: str = "flat",
) -> FlatRun:
    """Run one 3-call tool loop per task, their calls interleaved (agent 0, 1, ..., 0, 1, ...).
    ``system`` may differ per call (one entry per round) to model a changing system prompt."""
    systems = [system] * 3 if isinstance(system, str) else system
    run = FlatRun(histories=[[{"role": "user", "content": task}] for task in tasks])
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=Resource.create({"service.name": service}))
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    order: list[tuple[int, int]] = []  # (trace id, agent) per call
    try:
        with openai.OpenAI(base_url=fake.base_url, api_key="test-key", max_retries=0) as client:
            for round_index in range(3):
                for agent, history in enumerate(run.histories):
                    sent = [{"role": "system", "content": systems[round_index]}, *history]
                    before = len(exporter.get_finished_spans())
                    response = client.chat.completions.create(model="default", messages=sent, tools=TOOLS)
                    (span,) = exporter.get_finished_spans()[before:]
                    order.append((span.context.trace_id, agent))
                    reply = response.choices[0].message
                    history.append(reply.model_dump(exclude_none=True))
                    for call in reply.tool_calls or []:
                        result = RESULTS[call.function.name]
                        history.append(
                            {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)}
                        )
    finally:
        instrumentor.uninstrument()
        tracer_provider.shutdown()
    by_trace: dict[int, list[ReadableSpan]] = defaultdict(list)
    for span in exporter.get_finished_spans():
        by_trace[span.context.trace_id].append(span)
    for trace_id, agent in order:
        run.traces.append(by_trace[trace_id])
        run.agent_of.append(agent)
    return run
