"""A small tool-using agent run recorded with the real OpenTelemetry SDK, as OTLP requests."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

USER = {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris, and 21 + 21?"}]}


def _call(call_id: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "parts": [{"type": "tool_call", "id": call_id, "name": name, "arguments": args}],
        "finish_reason": "tool_call",
    }


def _result(call_id: str, value: Any) -> dict[str, Any]:
    return {"role": "tool", "parts": [{"type": "tool_call_response", "id": call_id, "response": value}]}


@dataclass
class AgentRun:
    spans: list[ReadableSpan] = field(default_factory=list)
    turns_in: list[list[dict[str, Any]]] = field(default_factory=list)
    turns_out: list[list[dict[str, Any]]] = field(default_factory=list)

    def request(self, spans: list[ReadableSpan] | None = None) -> ExportTraceServiceRequest:
        return encode_spans(self.spans if spans is None else spans)

    @property
    def trace_id(self) -> str:
        return format(self.spans[0].context.trace_id, "032x")

    def by_name(self, prefix: str) -> list[ReadableSpan]:
        return [s for s in self.spans if s.name.startswith(prefix)]


def record_agent_run(service: str = "test-agent", tool_spans: bool = True) -> AgentRun:
    """invoke_agent -> chat (get_weather) -> execute_tool -> chat (add) -> execute_tool -> chat (answer)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.agent")
    run = AgentRun()
    steps = [
        (
            _call("call_1", "get_weather", {"city": "Paris"}),
            "call_1",
            "get_weather",
            {"city": "Paris"},
            "sunny, 22 C",
        ),
        (_call("call_2", "add", {"a": 21, "b": 21}), "call_2", "add", {"a": 21, "b": 21}, 42),
        (
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": "Sunny and 22 C; 21 + 21 = 42."}],
                "finish_reason": "stop",
            },
            None,
            None,
            None,
            None,
        ),
    ]
    history: list[dict[str, Any]] = [USER]
    with tracer.start_as_current_span(
        "invoke_agent weather-agent",
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "weather-agent",
            "trajotel.task": "Weather in Paris, and 21 + 21?",
        },
    ):
        for index, (output, call_id, tool, args, result) in enumerate(steps):
            finish = "tool_calls" if call_id else "stop"
            with tracer.start_as_current_span(
                "chat gpt-4o-mini",
                kind=SpanKind.CLIENT,
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                    "gen_ai.response.id": f"chatcmpl-{index}",
                    "gen_ai.usage.input_tokens": 10 * (index + 1),
                    "gen_ai.usage.output_tokens": 5,
                    "gen_ai.response.finish_reasons": [finish],
                    "gen_ai.input.messages": json.dumps(history),
                    "gen_ai.output.messages": json.dumps([output]),
                },
            ):
                pass
            run.turns_in.append(list(history))
            run.turns_out.append([output])
            history = [*history, output]
            if call_id:
                if tool_spans:
                    with tracer.start_as_current_span(
                        f"execute_tool {tool}",
                        attributes={
                            "gen_ai.operation.name": "execute_tool",
                            "gen_ai.tool.name": tool,
                            "gen_ai.tool.call.id": call_id,
                            "gen_ai.tool.call.arguments": json.dumps(args),
                            "gen_ai.tool.call.result": json.dumps(result),
                        },
                    ):
                        pass
                history = [*history, _result(call_id, result)]
    run.spans = list(exporter.get_finished_spans())
    provider.shutdown()
    return run
