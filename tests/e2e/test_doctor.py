"""``trajotel doctor`` against a running collector: spans and log records of several
instrumentations are sent over OTLP/HTTP (real SDK, real encoders); the command, run as users run
it, reports what was understood and, with the reasons, what was not."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

from opentelemetry._logs import LogRecord
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from trajotel.testing.collector_process import CollectorProcess

from tests.support.agent_runs import wait_for

MESSAGES = json.dumps([{"role": "user", "parts": [{"type": "text", "content": "hi"}]}])


def _post(collector: CollectorProcess, path: str, body: bytes) -> None:
    request = urllib.request.Request(
        collector.http_endpoint + path, data=body, headers={"Content-Type": "application/x-protobuf"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


def _send(collector: CollectorProcess) -> dict[str, str]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "agent-svc"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("some.instrumentation")
    spans = {
        # Understood: GenAI with content; and a plain HTTP span (not an LLM span at all).
        "genai": {"gen_ai.operation.name": "chat", "gen_ai.input.messages": MESSAGES},
        "http": {"http.request.method": "GET"},
        # Not understood: an unknown LLM encoding; unreadable content; a call without messages.
        "unknown": {"llm.vendor.prompt": "hi", "llm.vendor.model": "m"},
        "broken": {"gen_ai.operation.name": "chat", "gen_ai.input.messages": '[{"role": "user"'},
        "empty": {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai"},
    }
    ids = {}
    for name, attributes in spans.items():
        span = tracer.start_span(name, attributes=attributes)
        span.end()
        ids[name] = f"{span.context.trace_id:032x}/{span.context.span_id:016x}"
    _post(collector, "/v1/traces", encode_spans(exporter.get_finished_spans()).SerializeToString())

    logs = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider(resource=Resource.create({"service.name": "agent-svc"}))
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    logger_provider.get_logger("legacy").emit(LogRecord(event_name="gen_ai.user.message", body="not a map"))
    _post(collector, "/v1/logs", encode_logs(logs.get_finished_logs()).SerializeToString())
    return ids


def _doctor(collector: CollectorProcess, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "trajotel", "doctor", "--data", str(collector.data_dir), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def test_doctor_reports_what_was_not_understood_and_why(collector: CollectorProcess) -> None:
    ids = _send(collector)
    wait_for(lambda: collector.query("SELECT count() AS n FROM spans")[0]["n"] == 5, what="the spans stored")
    wait_for(lambda: collector.query("SELECT count() AS n FROM logs")[0]["n"] == 1, what="the log stored")

    report = json.loads(_doctor(collector, "--json").stdout)
    understood = {(r["dialect"], r["service"]): int(r["spans"]) for r in report["understood"]}
    assert understood == {("genai", "agent-svc"): 3, ("otel", "agent-svc"): 2}
    by_reason = {f["reason"]: f for f in report["not_understood"]}
    assert len(by_reason) == 4, list(by_reason)
    no_dialect = next(f for r, f in by_reason.items() if r.startswith("no dialect matched"))
    assert (no_dialect["count"], no_dialect["examples"]) == (1, [ids["unknown"]])
    unreadable = next(f for r, f in by_reason.items() if r.startswith("content could not be read"))
    assert unreadable["examples"] == [ids["broken"]]
    assert unreadable["detail"].startswith("gen_ai.input.messages:")
    without = next(f for r, f in by_reason.items() if r.startswith("model call without messages"))
    assert without["examples"] == [ids["empty"]]
    event = next(f for r, f in by_reason.items() if r.startswith("content event"))
    assert "body must be a map" in event["detail"]
    # Every finding names its service and scope.
    assert {(f["service"], f["scope"]) for f in report["not_understood"]} == {
        ("agent-svc", "some.instrumentation"),
        ("agent-svc", "legacy"),
    }

    text = _doctor(collector).stdout
    assert "no dialect matched" in text and ids["unknown"] in text
