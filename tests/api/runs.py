"""Agent runs recorded with trajotel's own API on the real OpenTelemetry SDK (spans and log
records kept in memory, then sent as OTLP requests), for the feedback and REST tests."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from opentelemetry._logs import LogRecord
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Tracer

import trajotel


@dataclass
class Recorded:
    spans: list[ReadableSpan] = field(default_factory=list)
    logs: list[ReadableLogRecord] = field(default_factory=list)

    @property
    def trajectory_id(self) -> str:
        return format(self.spans[0].context.trace_id, "032x")


def _chat(tracer: Tracer, question: str, answer: str) -> None:
    messages = [{"role": "user", "parts": [{"type": "text", "content": question}]}]
    output = [{"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": "stop"}]
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.input.messages": json.dumps(messages),
        "gen_ai.output.messages": json.dumps(output),
        "gen_ai.response.finish_reasons": ["stop"],
    }
    with tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=attributes):
        pass


def record_run(
    task: str,
    *,
    agent: str = "weather-agent",
    service: str = "feedback-tests",
    turns: int = 2,
    reward: float | None = None,
    sub_agent: bool = False,
    in_run_feedback: dict | None = None,
    judge_turn: int | None = None,
) -> Recorded:
    """An ``invoke_agent`` run of ``turns`` model calls. ``sub_agent``: one more model call in a
    nested agent. ``in_run_feedback``: ``trajotel.feedback(**it)`` inside the run.
    ``judge_turn``: an evaluator's ``gen_ai.evaluation.result`` log record about that turn's span."""
    spans, logs = InMemorySpanExporter(), InMemoryLogRecordExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(spans))
    logger_provider = LoggerProvider(resource=Resource.create({"service.name": "judge"}))
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    tracer = provider.get_tracer("tests.api")
    with trajotel.trajectory(task=task, agent=agent, tracer_provider=provider) as run:
        for index in range(turns):
            _chat(tracer, f"{task} (step {index})", f"answer {index}")
        if sub_agent:
            with trajotel.trajectory(task="look it up", agent="helper", tracer_provider=provider):
                _chat(tracer, "look it up", "found it")
        if reward is not None:
            run.reward(reward)
        if in_run_feedback is not None:
            trajotel.feedback(**in_run_feedback)
    provider.shutdown()
    recorded = Recorded(spans=list(spans.get_finished_spans()))
    recorded.spans.sort(key=lambda s: s.parent is not None)  # the root first
    if judge_turn is not None:
        chats = sorted(
            (s for s in recorded.spans if s.name.startswith("chat")), key=lambda s: s.start_time or 0
        )
        judged = chats[judge_turn].context
        logger_provider.get_logger("tests.judge").emit(
            LogRecord(
                trace_id=judged.trace_id,
                span_id=judged.span_id,
                trace_flags=judged.trace_flags,
                event_name="gen_ai.evaluation.result",
                attributes={
                    "gen_ai.evaluation.name": "Relevance",
                    "gen_ai.evaluation.score.value": 0.25,
                    "gen_ai.evaluation.score.label": "irrelevant",
                    "gen_ai.evaluation.explanation": "does not answer the question",
                },
            )
        )
        recorded.logs = list(logs.get_finished_logs())
    logger_provider.shutdown()
    return recorded
