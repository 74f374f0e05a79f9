"""GenAI content sent as per-message log events (GenAI conventions <= 1.36, the default of the
official openai-v2 instrumentation before 2.2 and of vertexai) becomes the turns' messages.

A plain tool loop of three flat model calls (one trace each, no root, no content on the spans)
is recorded with the real OpenTelemetry SDK: the spans through a tracer, the content through the
Logs API, event by event with the bodies those instrumentations send. Both go through the real
OTLP encoders, spool -> store -> assembly worker on chdb, in whatever order they arrive.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry._logs import LogRecord
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from trajotel.store import Store
from trajotel.store.trajectories import read_trajectory

from tests.support.pipeline import InProcessPipeline
from tests.support.trajectory_match import from_chat_message, from_semconv

SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
USER = {"role": "user", "content": "What's the weather in Paris, and what is 21 + 21?"}


def _call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


WEATHER = {
    "role": "assistant",
    "content": None,
    "tool_calls": [_call("call_1", "get_weather", '{"city": "Paris"}')],
}
WEATHER_RESULT = {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 22 C in Paris"}
ADD = {"role": "assistant", "content": None, "tool_calls": [_call("call_2", "add", '{"a": 21, "b": 21}')]}
ADD_RESULT = {"role": "tool", "tool_call_id": "call_2", "content": "42"}
ANSWER = {"role": "assistant", "content": "Sunny and 22 C; 21 + 21 = 42."}
# (input messages, reply, finish reason) of the three model calls.
CALLS = [
    ([SYSTEM, USER], WEATHER, "tool_calls"),
    ([SYSTEM, USER, WEATHER, WEATHER_RESULT], ADD, "tool_calls"),
    ([SYSTEM, USER, WEATHER, WEATHER_RESULT, ADD, ADD_RESULT], ANSWER, "stop"),
]


def _message_event(message: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The event openai-v2 (legacy) emits for one request message: role in the name."""
    body: dict[str, Any] = {}
    if message.get("content") is not None:
        body["content"] = message["content"]
    if message.get("tool_calls"):
        body["tool_calls"] = message["tool_calls"]
    if message["role"] == "tool":
        body["id"] = message["tool_call_id"]
    return f"gen_ai.{message['role']}.message", body


def record_loop() -> tuple[list[ReadableSpan], list[ReadableLogRecord]]:
    spans, logs = InMemorySpanExporter(), InMemoryLogRecordExporter()
    tracer_provider, logger_provider = TracerProvider(), LoggerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    tracer, logger = (
        tracer_provider.get_tracer("legacy-instrumentation"),
        logger_provider.get_logger("legacy"),
    )
    for inputs, reply, finish in CALLS:
        attributes = {"gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "m"}
        with tracer.start_as_current_span("chat m", kind=SpanKind.CLIENT, attributes=attributes) as span:
            for name, body in (*map(_message_event, inputs), _choice(reply, finish)):
                logger.emit(LogRecord(event_name=name, body=body, attributes={"gen_ai.system": "openai"}))
            span.set_attribute("gen_ai.response.finish_reasons", [finish])
        assert trace.get_current_span() is trace.INVALID_SPAN
    return list(spans.get_finished_spans()), list(logs.get_finished_logs())


def _choice(reply: dict[str, Any], finish: str) -> tuple[str, dict[str, Any]]:
    message = {"role": "assistant", **({"content": reply["content"]} if reply.get("content") else {})}
    if reply.get("tool_calls"):
        message["tool_calls"] = reply["tool_calls"]
    return "gen_ai.choice", {"index": 0, "finish_reason": finish, "message": message}


class Pipeline(InProcessPipeline):
    def deliver(
        self, spans: list[ReadableSpan] | None = None, logs: list[ReadableLogRecord] | None = None
    ) -> None:
        if logs:
            self.store_request(encode_logs(logs))
        if spans:
            self.store_request(encode_spans(spans))

    def settle(self) -> None:
        """Let every queued trace go idle and be assembled as complete."""
        self.assemble(idle=True)


def _expected_turns() -> list[dict[str, Any]]:
    return [
        {
            "input": [from_chat_message(m) for m in inputs],
            "output": [from_chat_message(reply)],
        }
        for inputs, reply, _ in CALLS
    ]


def _turns(store: Store) -> tuple[Any, list[dict[str, Any]]]:
    (row,) = store.query("SELECT trajectory_id FROM trajectories").dicts()
    trajectory = read_trajectory(store, row["trajectory_id"])
    assert trajectory is not None
    turns = [
        {
            "input": [from_semconv(m.to_dict()) for m in turn.input_messages],
            "output": [from_semconv(m.to_dict()) for m in turn.output_messages],
        }
        for turn in trajectory.turns
    ]
    return trajectory, turns


def test_per_message_events_become_the_turns_of_one_threaded_trajectory(store: Store, tmp_path: Path) -> None:
    spans, logs = record_loop()
    pipeline = Pipeline(store, tmp_path)
    # The logs exporter and the trace exporter are independent: events may come first.
    pipeline.deliver(logs=logs[: len(logs) // 2])
    pipeline.deliver(spans=spans[::-1])
    pipeline.deliver(logs=logs[len(logs) // 2 :])
    pipeline.deliver(logs=logs[:5])  # a re-sent log batch counts once
    pipeline.settle()

    trajectory, turns = _turns(store)
    assert turns == _expected_turns()
    assert [(c.id, c.name, c.arguments, c.result) for t in trajectory.turns for c in t.tool_calls] == [
        ("call_1", "get_weather", {"city": "Paris"}, "sunny, 22 C in Paris"),
        ("call_2", "add", {"a": 21, "b": 21}, "42"),
    ]
    assert [t.finish_reasons for t in trajectory.turns] == [["tool_calls"], ["tool_calls"], ["stop"]]
    # Content is stored once, by hash: the events' bodies are not kept again in the logs table.
    stored = store.query("SELECT count() AS n, countIf(Body != '') AS with_body FROM logs").dicts()[0]
    assert (int(stored["n"]), int(stored["with_body"])) == (len(logs) + 5, 0)
    contents = store.query("SELECT count() AS n FROM message_contents").dicts()[0]
    # Every distinct message once: the six of the last input, and the three replies (as
    # outputs they carry their finish reason, so they differ from their copies in later inputs).
    assert int(contents["n"]) == len(CALLS[-1][0]) + len(CALLS)


def test_events_arriving_after_the_trajectory_completed_give_a_newer_version(
    store: Store, tmp_path: Path
) -> None:
    spans, logs = record_loop()
    pipeline = Pipeline(store, tmp_path)
    pipeline.deliver(spans=spans)
    pipeline.settle()
    # Without content the three calls cannot be threaded: three one-turn trajectories.
    before = store.query("SELECT trajectory_id, version FROM trajectories ORDER BY trajectory_id").dicts()
    assert len(before) == 3

    pipeline.deliver(logs=logs)
    pipeline.settle()
    trajectory, turns = _turns(store)
    assert turns == _expected_turns()
    assert trajectory.status == "complete"
    assert trajectory.id in {r["trajectory_id"] for r in before}
    assert trajectory.version > 1


def test_a_content_event_with_unknown_fields_keeps_its_body(store: Store, tmp_path: Path) -> None:
    logger_provider, exporter = LoggerProvider(), InMemoryLogRecordExporter()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    body = {"content": "hi", "vendor_extension": {"x": 1}}
    logger_provider.get_logger("legacy").emit(LogRecord(event_name="gen_ai.user.message", body=body))
    logger_provider.get_logger("legacy").emit(LogRecord(event_name="gen_ai.user.message", body="not a map"))
    pipeline = Pipeline(store, tmp_path)
    pipeline.deliver(logs=list(exporter.get_finished_logs()))
    rows = store.query("SELECT Body, InputMessageHashes, LogAttributes FROM logs ORDER BY Body").dicts()
    assert [json.loads(r["Body"]) for r in rows] == ["not a map", body]
    assert [len(r["InputMessageHashes"]) for r in rows] == [0, 1]
    assert "body must be a map" in rows[0]["LogAttributes"]["trajotel.normalize.error"]
