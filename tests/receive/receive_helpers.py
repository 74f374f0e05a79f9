"""Shared helpers for the receiver tests: real SDK telemetry, raw HTTP, protobuf inspection."""

from __future__ import annotations

import http.client
from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

TRACE_ID = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN_ID = bytes.fromhex("eee19b7ec3c1b174")
PARENT_ID = bytes.fromhex("aaa19b7ec3c1b174")


def make_telemetry() -> tuple[list[ReadableSpan], list[ReadableLogRecord]]:
    """A small agent trace (invoke_agent -> chat, tool) and logs, one inside a span, one outside."""
    resource = Resource.create({"service.name": "agent-under-test"})
    span_store = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_store))
    log_store = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_store))
    tracer = tracer_provider.get_tracer("trajotel.tests", "1.0")
    logger = logger_provider.get_logger("trajotel.tests")

    with tracer.start_as_current_span(
        "invoke_agent planner", attributes={"gen_ai.operation.name": "invoke_agent"}
    ):
        with tracer.start_as_current_span(
            "chat gpt-4o",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 12,
                "gen_ai.request.temperature": 0.5,
                "gen_ai.response.finish_reasons": ("stop",),
            },
        ) as chat:
            chat.add_event("gen_ai.choice", {"index": 0})
            logger.emit(body="inference done", attributes={"tokens": 12}, event_name="gen_ai.done")
        with tracer.start_as_current_span("execute_tool search", attributes={"gen_ai.tool.name": "search"}):
            pass
    logger.emit(body={"outside": "any span"})
    tracer_provider.shutdown()
    logger_provider.shutdown()
    return list(span_store.get_finished_spans()), list(log_store.get_finished_logs())


def value(any_value: AnyValue) -> Any:
    """AnyValue -> Python value."""
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [value(v) for v in any_value.array_value.values]
    if kind == "kvlist_value":
        return attributes(any_value.kvlist_value.values)
    return getattr(any_value, kind)


def attributes(kvs: Any) -> dict[str, Any]:
    return {kv.key: value(kv.value) for kv in kvs}


def assert_spans_match(sdk_spans: list[ReadableSpan], received: list[Span]) -> None:
    """The receiver delivered exactly these SDK spans: same ids, names, parents and attributes."""
    by_id = {s.span_id: s for s in received}
    assert len(by_id) == len(received) == len(sdk_spans)
    for sdk in sdk_spans:
        ctx = sdk.get_span_context()
        got = by_id[ctx.span_id.to_bytes(8, "big")]
        assert got.name == sdk.name
        assert got.trace_id == ctx.trace_id.to_bytes(16, "big")
        parent = sdk.parent.span_id.to_bytes(8, "big") if sdk.parent else b""
        assert got.parent_span_id == parent
        expected = {k: list(v) if isinstance(v, tuple) else v for k, v in sdk.attributes.items()}
        assert attributes(got.attributes) == expected
        assert [e.name for e in got.events] == [e.name for e in sdk.events]


def assert_logs_match(sdk_logs: list[ReadableLogRecord], received: list[LogRecord]) -> None:
    assert len(received) == len(sdk_logs)
    for sdk, got in zip(sdk_logs, received, strict=True):
        record = sdk.log_record
        assert value(got.body) == (record.body if not isinstance(record.body, Mapping) else dict(record.body))
        assert got.trace_id == (record.trace_id.to_bytes(16, "big") if record.trace_id else b"")
        assert got.span_id == (record.span_id.to_bytes(8, "big") if record.span_id else b"")
        assert got.event_name == (record.event_name or "")


def trace_request(*spans: Span, scope: str = "scope") -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value="svc")))
    ss = rs.scope_spans.add()
    ss.scope.name = scope
    ss.spans.extend(spans)
    return req


def span(name: str, trace_id: bytes = TRACE_ID, span_id: bytes = SPAN_ID, parent: bytes = b"") -> Span:
    return Span(name=name, trace_id=trace_id, span_id=span_id, parent_span_id=parent)


def logs_request(*records: LogRecord, scope: str = "scope") -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    sl = req.resource_logs.add().scope_logs.add()
    sl.scope.name = scope
    sl.log_records.extend(records)
    return req


class Reply:
    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status = response.status
        self.headers = {k.lower(): v for k, v in response.getheaders()}
        self.body = response.read()

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def status_message(self) -> status_pb2.Status:
        """The google.rpc.Status error body, in whichever encoding the server chose."""
        if self.content_type.startswith(PROTOBUF):
            return status_pb2.Status.FromString(self.body)

        return json_format.Parse(self.body, status_pb2.Status())


def post(
    conn: http.client.HTTPConnection,
    path: str,
    body: Any,
    content_type: str | None = PROTOBUF,
    headers: Mapping[str, str] | None = None,
    *,
    chunked: bool = False,
    method: str = "POST",
) -> Reply:
    all_headers = dict(headers or {})
    if content_type is not None:
        all_headers["Content-Type"] = content_type
    conn.request(method, path, body=body, headers=all_headers, encode_chunked=chunked)
    return Reply(conn.getresponse())
