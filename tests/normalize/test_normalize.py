"""OTLP -> canonical rows. Spans and logs are produced by the real OpenTelemetry SDK and encoded
by the real OTLP encoders (or built as OTLP protobufs by hand where the SDK cannot express the
input, e.g. structured message bodies); the rows are checked column by column and, at the end,
stored in the real embedded ClickHouse and read back."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as PbResource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, TraceFlags, TraceState
from opentelemetry.trace.status import Status, StatusCode

from trajotel.normalize import NormalizedBatch, content_hash, normalize_logs, normalize_traces
from trajotel.store import Store
from trajotel.store.spans import write_batch

T0 = 1_700_000_000_123_456_789  # ns; deliberately not a round number
NORMALIZE_ERROR = "trajotel.normalize.error"
CONTENT_KEYS = (
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
)

SYSTEM = [{"type": "text", "content": "You are terse."}]
TOOLS = [
    {
        "type": "function",
        "name": "add",
        "description": "Add two numbers",
        "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "number"}}},
    }
]
U1 = {"role": "user", "parts": [{"type": "text", "content": "21 + 21.5?"}]}
A1 = {
    "role": "assistant",
    "parts": [
        {
            "type": "tool_call",
            "id": "call_1",
            "name": "add",
            "arguments": {"a": 21, "b": 21.5, "exact": True, "note": None},
        }
    ],
    "finish_reason": "tool_call",
}
T1 = {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": 42.5}]}
A2 = {
    "role": "assistant",
    "parts": [{"type": "text", "content": "42.5 — ünïcode ✓"}],
    "finish_reason": "stop",
}


# --- helpers ---------------------------------------------------------------------------------------


class Recorder:
    """A TracerProvider with an in-memory exporter: spans as the SDK makes them."""

    def __init__(self, resource: dict[str, Any] | None = None) -> None:
        self.exporter = InMemorySpanExporter()
        attrs = {"service.name": "norm-svc", **(resource or {})}
        self.provider = TracerProvider(resource=Resource.create(attrs))
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer(
            "tests.normalize", "1.2.3", schema_url="https://opentelemetry.io/schemas/1.30.0"
        )

    def span(self, name: str, attributes: dict[str, Any] | None = None, **kwargs: Any) -> ReadableSpan:
        start = kwargs.pop("start_time", T0)
        end = kwargs.pop("end_time", start + 1_000)
        span = self.tracer.start_span(name, attributes=attributes, start_time=start, **kwargs)
        span.end(end_time=end)
        return self.exporter.get_finished_spans()[-1]

    @property
    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())


def _normalize(spans: list[ReadableSpan], tenant: str = "default") -> NormalizedBatch:
    return normalize_traces(encode_spans(spans), tenant)


def _one(spans: list[ReadableSpan] | ReadableSpan, tenant: str = "default") -> dict[str, Any]:
    batch = _normalize(spans if isinstance(spans, list) else [spans], tenant)
    assert len(batch.spans) == 1
    return batch.spans[0]


def _hex_trace(span: ReadableSpan) -> str:
    return format(span.context.trace_id, "032x")


def _hex_span(span_id: int) -> str:
    return format(span_id, "016x")


def _any(value: Any) -> AnyValue:
    """A Python value as a structured OTLP AnyValue (what the SDK cannot emit for maps)."""
    if value is None:
        return AnyValue()
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[_any(v) for v in value]))
    if isinstance(value, dict):
        return AnyValue(
            kvlist_value=KeyValueList(values=[KeyValue(key=k, value=_any(v)) for k, v in value.items()])
        )
    raise TypeError(type(value))


def _pb_spans(request: ExportTraceServiceRequest) -> list[PbSpan]:
    return [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]


def _set_attribute(span: PbSpan, key: str, value: AnyValue) -> None:
    for kv in span.attributes:
        if kv.key == key:
            kv.value.CopyFrom(value)
            return
    span.attributes.append(KeyValue(key=key, value=value))


def _message_bodies(batch: NormalizedBatch, tenant: str, hashes: list[str]) -> list[Any]:
    out = []
    for h in hashes:
        kind, text = batch.contents[tenant, h]
        assert kind == "message"
        out.append(json.loads(text))
    return out


def _reordered(value: Any) -> Any:
    """The same JSON value with every object's keys in reverse order."""
    if isinstance(value, dict):
        return {k: _reordered(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reordered(v) for v in value]
    return value


# --- identity, timing, resource, scope, events, links -----------------------------------------------


def test_ids_times_status_resource_scope_events_and_links() -> None:
    rec = Recorder({"deployment.environment": "test", "replicas": 3})
    remote = SpanContext(
        0x0AF7651916CD43DD8448EB211C80319C,
        0xB7AD6B7169203331,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=TraceState([("vendor", "v1")]),
    )
    other = SpanContext(0x11112222333344445555666677778888, 0x0102030405060708, is_remote=True)
    parent_ctx = trace.set_span_in_context(NonRecordingSpan(remote))
    root = rec.tracer.start_span("root", context=parent_ctx, kind=SpanKind.SERVER, start_time=T0)
    root.set_status(Status(StatusCode.OK))
    child = rec.tracer.start_span(
        "child",
        context=trace.set_span_in_context(root),
        kind=SpanKind.CLIENT,
        start_time=T0 + 1,
        links=[Link(other, {"link.n": 7, "link.s": "x"})],
    )
    child.add_event("first", {"k": "v", "n": 3}, timestamp=T0 + 500)
    child.add_event("second", timestamp=T0 + 999_999_999)
    child.set_status(Status(StatusCode.ERROR, "it broke"))
    child.end(end_time=T0 + 1_500_000_001)
    root.end(end_time=T0 + 2_000_000_000)
    root_span, child_span = sorted(rec.spans, key=lambda s: s.start_time or 0)

    request = encode_spans(rec.spans)
    (link,) = next(s for s in _pb_spans(request) if s.name == "child").links
    link.trace_state = "other=1"  # the Python SDK's encoder drops link trace state; OTLP carries it
    rows = {r["SpanName"]: r for r in normalize_traces(request, "default").spans}
    r, c = rows["root"], rows["child"]

    assert r["TraceId"] == c["TraceId"] == "0af7651916cd43dd8448eb211c80319c"
    assert r["SpanId"] == _hex_span(root_span.context.span_id)
    assert r["ParentSpanId"] == "b7ad6b7169203331"
    assert c["SpanId"] == _hex_span(child_span.context.span_id)
    assert c["ParentSpanId"] == r["SpanId"]
    assert r["TraceState"] == "vendor=v1"
    assert (r["SpanKind"], c["SpanKind"]) == ("Server", "Client")
    assert (r["StatusCode"], r["StatusMessage"]) == ("Ok", "")
    assert (c["StatusCode"], c["StatusMessage"]) == ("Error", "it broke")

    assert r["Timestamp"] == "1700000000.123456789"
    assert r["EndTimestamp"] == "1700000002.123456789"
    assert r["Duration"] == 2_000_000_000
    assert c["Timestamp"] == "1700000000.123456790"
    assert c["EndTimestamp"] == "1700000001.623456790"
    assert c["Duration"] == 1_500_000_000

    for row in (r, c):
        assert row["Tenant"] == "default"
        assert row["ServiceName"] == "norm-svc"
        assert row["ResourceAttributes"]["service.name"] == "norm-svc"
        assert row["ResourceAttributes"]["deployment.environment"] == "test"
        assert row["ResourceAttributes"]["replicas"] == "3"
        assert row["ResourceAttributes"]["telemetry.sdk.name"] == "opentelemetry"
        assert (row["ScopeName"], row["ScopeVersion"]) == ("tests.normalize", "1.2.3")
        assert row["SchemaUrl"] == "https://opentelemetry.io/schemas/1.30.0"
        assert row["Dialect"] == "otel"

    assert c["Events.Name"] == ["first", "second"]
    assert c["Events.Timestamp"] == ["1700000000.123457289", "1700000001.123456788"]
    assert c["Events.Attributes"] == [{"k": "v", "n": "3"}, {}]
    assert r["Events.Name"] == r["Events.Timestamp"] == r["Events.Attributes"] == []
    assert c["Links.TraceId"] == ["11112222333344445555666677778888"]
    assert c["Links.SpanId"] == ["0102030405060708"]
    assert c["Links.TraceState"] == ["other=1"]
    assert c["Links.Attributes"] == [{"link.n": "7", "link.s": "x"}]
    assert r["Links.TraceId"] == r["Links.SpanId"] == r["Links.TraceState"] == r["Links.Attributes"] == []


def test_root_span_has_empty_parent_and_unset_status() -> None:
    rec = Recorder()
    span = rec.span("alone")
    row = _one(span)
    assert row["TraceId"] == _hex_trace(span)
    assert len(row["TraceId"]) == 32 and len(row["SpanId"]) == 16
    assert row["ParentSpanId"] == ""
    assert row["StatusCode"] == "Unset"
    assert row["SpanKind"] == "Internal"


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        (SpanKind.INTERNAL, "Internal"),
        (SpanKind.SERVER, "Server"),
        (SpanKind.CLIENT, "Client"),
        (SpanKind.PRODUCER, "Producer"),
        (SpanKind.CONSUMER, "Consumer"),
    ],
)
def test_span_kind_names(kind: SpanKind, name: str) -> None:
    assert _one(Recorder().span("k", kind=kind))["SpanKind"] == name


def test_end_before_start_is_clamped() -> None:
    request = encode_spans([Recorder().span("s")])
    span = _pb_spans(request)[0]
    span.start_time_unix_nano, span.end_time_unix_nano = T0, T0 - 5
    row = normalize_traces(request, "default").spans[0]
    assert row["Duration"] == 0
    assert row["EndTimestamp"] == row["Timestamp"]


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_ns_text_is_exact_seconds_dot_nanoseconds(ns: int) -> None:
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                scope_spans=[
                    ScopeSpans(
                        spans=[
                            PbSpan(
                                trace_id=b"\x01" * 16,
                                span_id=b"\x02" * 8,
                                start_time_unix_nano=ns,
                                end_time_unix_nano=ns,
                            )
                        ]
                    )
                ]
            )
        ]
    )
    text = normalize_traces(request, "default").spans[0]["Timestamp"]
    _seconds, fraction = text.split(".")
    assert len(fraction) == 9
    assert Decimal(text) * 1_000_000_000 == ns


# --- attribute values ------------------------------------------------------------------------------


def test_attribute_values_become_strings() -> None:
    row = _one(
        Recorder().span(
            "attrs",
            {
                "s": "text",
                "empty": "",
                "i": 42,
                "neg": -7,
                "big": 2**62,
                "f": 2.5,
                "f_int": 3.0,
                "t": True,
                "fl": False,
                "ss": ["a", "b"],
                "ii": [1, 2, 3],
                "ff": [1.5, 2.0],
                "bb": [True, False],
                "uni": "ünï ✓",
            },
        )
    )
    attrs = row["SpanAttributes"]
    assert all(isinstance(v, str) for v in attrs.values())
    assert attrs["s"] == "text"
    assert attrs["empty"] == ""
    assert attrs["i"] == "42"
    assert attrs["neg"] == "-7"
    assert attrs["big"] == str(2**62)
    assert float(attrs["f"]) == 2.5
    assert float(attrs["f_int"]) == 3.0
    assert (attrs["t"], attrs["fl"]) == ("true", "false")
    assert json.loads(attrs["ss"]) == ["a", "b"]
    assert json.loads(attrs["ii"]) == [1, 2, 3]
    assert json.loads(attrs["ff"]) == [1.5, 2.0]
    assert json.loads(attrs["bb"]) == [True, False]
    assert attrs["uni"] == "ünï ✓"


def test_structured_attribute_values_are_json() -> None:
    request = encode_spans([Recorder().span("s")])
    span = _pb_spans(request)[0]
    _set_attribute(span, "map", _any({"a": 1, "b": [True, None, "x"], "c": {"d": 1.5}}))
    _set_attribute(span, "unset", AnyValue())
    attrs = normalize_traces(request, "default").spans[0]["SpanAttributes"]
    assert json.loads(attrs["map"]) == {"a": 1, "b": [True, None, "x"], "c": {"d": 1.5}}
    assert attrs["unset"] == ""


def test_bytes_attribute_is_base64_text() -> None:
    row = _one(Recorder().span("b", {"blob": b"\x01\x02\xff"}))
    assert row["SpanAttributes"]["blob"] == "AQL/"


# --- promoted GenAI columns and dialects -----------------------------------------------------------


def test_genai_columns_are_promoted() -> None:
    row = _one(
        Recorder().span(
            "chat gpt-4o",
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.response.id": "chatcmpl-123",
                "gen_ai.conversation.id": "conv-9",
                "gen_ai.agent.name": "weather-agent",
                "gen_ai.tool.name": "add",
                "gen_ai.tool.call.id": "call_1",
                "gen_ai.usage.input_tokens": 120,
                "gen_ai.usage.output_tokens": 7,
                "gen_ai.response.finish_reasons": ["stop", "length"],
                "error.type": "timeout",
            },
            kind=SpanKind.CLIENT,
        )
    )
    assert row["Dialect"] == "genai"
    assert row["Operation"] == "chat"
    assert row["Provider"] == "openai"
    assert row["RequestModel"] == "gpt-4o"
    assert row["ResponseModel"] == "gpt-4o-2024-08-06"
    assert row["ResponseId"] == "chatcmpl-123"
    assert row["ConversationId"] == "conv-9"
    assert row["AgentName"] == "weather-agent"
    assert row["ToolName"] == "add"
    assert row["ToolCallId"] == "call_1"
    assert row["InputTokens"] == 120
    assert row["OutputTokens"] == 7
    assert row["FinishReasons"] == ["stop", "length"]
    assert row["ErrorType"] == "timeout"
    # The promoted keys stay queryable in the attribute map too.
    assert row["SpanAttributes"]["gen_ai.usage.input_tokens"] == "120"


def test_non_genai_span_has_empty_promoted_columns() -> None:
    row = _one(Recorder().span("GET /", {"http.request.method": "GET"}))
    assert row["Dialect"] == "otel"
    for column in (
        "Operation",
        "Provider",
        "RequestModel",
        "ResponseModel",
        "ResponseId",
        "ConversationId",
        "AgentName",
        "ToolName",
        "ToolCallId",
        "ErrorType",
        "SystemInstructionsHash",
        "ToolDefinitionsHash",
    ):
        assert row[column] == "", column
    assert row["InputTokens"] is None and row["OutputTokens"] is None
    assert row["FinishReasons"] == row["InputMessageHashes"] == row["OutputMessageHashes"] == []


def test_token_counts_sent_as_strings_and_single_finish_reason_string() -> None:
    row = _one(
        Recorder().span(
            "chat",
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.usage.input_tokens": "31",
                "gen_ai.usage.output_tokens": "not a number",
                "gen_ai.response.finish_reasons": "stop",
            },
        )
    )
    assert row["InputTokens"] == 31
    assert row["OutputTokens"] is None
    assert row["FinishReasons"] == ["stop"]


def test_legacy_dialect_is_renamed_to_canonical_names() -> None:
    row = _one(
        Recorder().span(
            "chat gpt-4",
            {
                "gen_ai.system": "openai",
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4",
                "gen_ai.usage.prompt_tokens": 12,
                "gen_ai.usage.completion_tokens": 3,
                "gen_ai.openai.request.seed": 7,
                "gen_ai.openai.response.system_fingerprint": "fp_1",
                "gen_ai.usage.cache_creation.input_tokens": 5,
            },
        )
    )
    attrs = row["SpanAttributes"]
    assert row["Dialect"] == "genai_legacy"
    assert row["Provider"] == "openai"
    assert (row["InputTokens"], row["OutputTokens"]) == (12, 3)
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.usage.input_tokens"] == "12"
    assert attrs["gen_ai.usage.output_tokens"] == "3"
    assert attrs["gen_ai.request.seed"] == "7"
    assert attrs["openai.response.system_fingerprint"] == "fp_1"
    assert attrs["gen_ai.usage.cache_write.input_tokens"] == "5"
    for old in (
        "gen_ai.system",
        "gen_ai.usage.prompt_tokens",
        "gen_ai.usage.completion_tokens",
        "gen_ai.openai.request.seed",
        "gen_ai.openai.response.system_fingerprint",
        "gen_ai.usage.cache_creation.input_tokens",
    ):
        assert old not in attrs, old


def test_canonical_key_alongside_a_legacy_one_wins() -> None:
    row = _one(
        Recorder().span(
            "chat",
            {
                "gen_ai.system": "legacy-provider",
                "gen_ai.provider.name": "anthropic",
                "gen_ai.usage.prompt_tokens": 999,
                "gen_ai.usage.input_tokens": 12,
            },
        )
    )
    assert row["Provider"] == "anthropic"
    assert row["InputTokens"] == 12
    assert row["SpanAttributes"]["gen_ai.provider.name"] == "anthropic"
    assert row["SpanAttributes"]["gen_ai.usage.input_tokens"] == "12"
    assert "gen_ai.system" not in row["SpanAttributes"]
    assert "gen_ai.usage.prompt_tokens" not in row["SpanAttributes"]


@pytest.mark.parametrize("key", ["gen_ai.system", "gen_ai.provider.name"])
@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("az.ai.openai", "azure.ai.openai"),
        ("vertex_ai", "gcp.vertex_ai"),
        ("gemini", "gcp.gemini"),
        ("openai", "openai"),
        ("aws.bedrock", "aws.bedrock"),
    ],
)
def test_provider_values_are_rewritten(key: str, sent: str, stored: str) -> None:
    row = _one(Recorder().span("chat", {key: sent, "gen_ai.operation.name": "chat"}))
    assert row["Provider"] == stored
    assert row["SpanAttributes"]["gen_ai.provider.name"] == stored


# --- message content -------------------------------------------------------------------------------


def _chat(rec: Recorder, name: str, inputs: list[Any], outputs: list[Any], **extra: Any) -> ReadableSpan:
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.input.messages": json.dumps(inputs),
        "gen_ai.output.messages": json.dumps(outputs),
        **extra,
    }
    return rec.span(name, attributes)


def test_content_is_replaced_by_hashes_and_stored_by_tenant_and_hash() -> None:
    rec = Recorder()
    span = _chat(
        rec,
        "chat",
        [U1],
        [A1],
        **{
            "gen_ai.system_instructions": json.dumps(SYSTEM),
            "gen_ai.tool.definitions": json.dumps(TOOLS),
        },
    )
    batch = _normalize([span])
    row = batch.spans[0]

    for key in CONTENT_KEYS:
        assert key not in row["SpanAttributes"], key
    assert NORMALIZE_ERROR not in row["SpanAttributes"]
    assert row["SpanAttributes"]["gen_ai.operation.name"] == "chat"
    assert _message_bodies(batch, "default", row["InputMessageHashes"]) == [U1]
    assert _message_bodies(batch, "default", row["OutputMessageHashes"]) == [A1]
    kind, text = batch.contents["default", row["SystemInstructionsHash"]]
    assert (kind, json.loads(text)) == ("system_instructions", SYSTEM)
    kind, text = batch.contents["default", row["ToolDefinitionsHash"]]
    assert (kind, json.loads(text)) == ("tool_definitions", TOOLS)
    # Content addressed: every key is the hash of the stored text, and nothing else is stored.
    assert len(batch.contents) == 4
    for (tenant, digest), (_kind, body) in batch.contents.items():
        assert tenant == "default"
        assert digest == content_hash(body)
        assert len(digest) == 32 and int(digest, 16) >= 0


def test_growing_history_hashes_each_message_once() -> None:
    rec = Recorder()
    first = _chat(rec, "chat 1", [U1], [A1])
    second = _chat(rec, "chat 2", [U1, A1, T1], [A2])
    batch = _normalize([first, second])
    one, two = batch.spans

    assert two["InputMessageHashes"][:2] == one["InputMessageHashes"] + one["OutputMessageHashes"]
    assert _message_bodies(batch, "default", two["InputMessageHashes"]) == [U1, A1, T1]
    assert _message_bodies(batch, "default", two["OutputMessageHashes"]) == [A2]
    hashes = one["InputMessageHashes"] + one["OutputMessageHashes"] + two["InputMessageHashes"]
    assert len(set(hashes)) == 3
    assert len(batch.contents) == 4  # U1, A1, T1, A2: each stored once

    # The same messages in a later, separate request hash identically.
    again = _normalize([_chat(Recorder(), "chat 3", [U1, A1, T1, A2], [])])
    assert again.spans[0]["InputMessageHashes"] == two["InputMessageHashes"] + two["OutputMessageHashes"]


def test_json_formatting_and_key_order_do_not_change_hashes() -> None:
    rec = Recorder()
    compact = _chat(rec, "compact", [U1, A1], [A2])
    pretty = rec.span(
        "pretty",
        {
            "gen_ai.input.messages": json.dumps(_reordered([U1, A1]), indent=4, ensure_ascii=True),
            "gen_ai.output.messages": json.dumps(_reordered([A2]), indent=1, ensure_ascii=False),
        },
    )
    a, b = _normalize([compact, pretty]).spans
    assert a["InputMessageHashes"] == b["InputMessageHashes"]
    assert a["OutputMessageHashes"] == b["OutputMessageHashes"]


def test_structured_otlp_content_hashes_like_the_json_string() -> None:
    rec = Recorder()
    as_json = _chat(rec, "json", [U1, A1, T1], [A2], **{"gen_ai.system_instructions": json.dumps(SYSTEM)})
    structured = rec.span("structured", {"gen_ai.operation.name": "chat"})
    request = encode_spans([as_json, structured])
    pb = next(s for s in _pb_spans(request) if s.name == "structured")
    _set_attribute(pb, "gen_ai.input.messages", _any([U1, A1, T1]))
    _set_attribute(pb, "gen_ai.output.messages", _any([A2]))
    _set_attribute(pb, "gen_ai.system_instructions", _any(SYSTEM))
    batch = normalize_traces(request, "default")
    rows = {r["SpanName"]: r for r in batch.spans}
    j, s = rows["json"], rows["structured"]

    assert s["InputMessageHashes"] == j["InputMessageHashes"]
    assert s["OutputMessageHashes"] == j["OutputMessageHashes"]
    assert s["SystemInstructionsHash"] == j["SystemInstructionsHash"] != ""
    assert len(batch.contents) == 5
    assert _message_bodies(batch, "default", s["InputMessageHashes"]) == [U1, A1, T1]
    for key in CONTENT_KEYS:
        assert key not in s["SpanAttributes"]
    assert NORMALIZE_ERROR not in s["SpanAttributes"]


def test_truncated_content_stays_verbatim_with_an_error() -> None:
    truncated = json.dumps([U1, A1])[:40]
    row = _one(
        Recorder().span(
            "chat",
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.input.messages": truncated,
                "gen_ai.output.messages": json.dumps([A2]),
            },
        )
    )
    attrs = row["SpanAttributes"]
    assert attrs["gen_ai.input.messages"] == truncated
    assert attrs[NORMALIZE_ERROR].startswith("gen_ai.input.messages")
    assert row["InputMessageHashes"] == []
    # The other, valid content is still extracted.
    assert "gen_ai.output.messages" not in attrs
    assert len(row["OutputMessageHashes"]) == 1


@pytest.mark.parametrize(
    ("key", "value", "column"),
    [
        ("gen_ai.input.messages", json.dumps({"role": "user"}), "InputMessageHashes"),
        ("gen_ai.output.messages", json.dumps("just text"), "OutputMessageHashes"),
        ("gen_ai.output.messages", "", "OutputMessageHashes"),
        ("gen_ai.system_instructions", "{not json", "SystemInstructionsHash"),
        ("gen_ai.tool.definitions", "[{]", "ToolDefinitionsHash"),
    ],
)
def test_invalid_content_stays_verbatim_with_an_error(key: str, value: str, column: str) -> None:
    batch = _normalize([Recorder().span("chat", {"gen_ai.operation.name": "chat", key: value})])
    row = batch.spans[0]
    assert row["SpanAttributes"][key] == value
    assert row["SpanAttributes"][NORMALIZE_ERROR].startswith(key)
    assert not row[column]
    assert batch.contents == {}


def test_structured_content_that_is_not_a_list_stays_as_json_with_an_error() -> None:
    request = encode_spans([Recorder().span("chat", {"gen_ai.operation.name": "chat"})])
    _set_attribute(_pb_spans(request)[0], "gen_ai.input.messages", _any({"role": "user"}))
    row = normalize_traces(request, "default").spans[0]
    assert json.loads(row["SpanAttributes"]["gen_ai.input.messages"]) == {"role": "user"}
    assert "array" in row["SpanAttributes"][NORMALIZE_ERROR]
    assert row["InputMessageHashes"] == []


def test_every_invalid_content_attribute_is_explained() -> None:
    row = _one(
        Recorder().span(
            "chat",
            {"gen_ai.input.messages": "[{", "gen_ai.output.messages": "[{", "gen_ai.operation.name": "chat"},
        )
    )
    error = row["SpanAttributes"][NORMALIZE_ERROR]
    assert "gen_ai.input.messages" in error
    assert "gen_ai.output.messages" in error


# --- tenants ---------------------------------------------------------------------------------------


def test_tenant_from_resource_attribute_or_default() -> None:
    acme = Recorder({"trajotel.tenant": "acme"})
    plain = Recorder()
    request = encode_spans([_chat(acme, "acme chat", [U1], []), _chat(plain, "plain chat", [U1], [])])
    batch = normalize_traces(request, "fallback")
    rows = {r["SpanName"]: r for r in batch.spans}

    assert rows["acme chat"]["Tenant"] == "acme"
    assert rows["plain chat"]["Tenant"] == "fallback"
    # The same message is the same hash, but each tenant stores its own copy.
    (h,) = rows["acme chat"]["InputMessageHashes"]
    assert rows["plain chat"]["InputMessageHashes"] == [h]
    assert set(batch.contents) == {("acme", h), ("fallback", h)}
    assert batch.trace_ids() == {
        ("acme", rows["acme chat"]["TraceId"]),
        ("fallback", rows["plain chat"]["TraceId"]),
    }


# --- logs ------------------------------------------------------------------------------------------


class LogRecorder:
    def __init__(self, resource: dict[str, Any] | None = None) -> None:
        self.exporter = InMemoryLogRecordExporter()
        self.provider = LoggerProvider(
            resource=Resource.create({"service.name": "log-svc", **(resource or {})})
        )
        self.provider.add_log_record_processor(SimpleLogRecordProcessor(self.exporter))
        self.logger = self.provider.get_logger("tests.logs", "0.9")

    def request(self) -> ExportLogsServiceRequest:
        return encode_logs(self.exporter.get_finished_logs())


def test_sdk_log_records_keep_ids_event_name_and_json_body() -> None:
    rec = Recorder()
    logs = LogRecorder()
    span = rec.tracer.start_span("chat", start_time=T0)
    with trace.use_span(span, end_on_exit=False):
        logs.logger.emit(
            timestamp=T0 + 10,
            observed_timestamp=T0 + 20,
            severity_number=SeverityNumber.INFO,
            severity_text="INFO",
            body={"messages": [U1], "n": 1},
            attributes={"k": 1, "flag": True},
            event_name="gen_ai.client.inference.operation.details",
        )
        logs.logger.emit(
            body="plain text", attributes={"event.name": "from.attribute"}, observed_timestamp=T0
        )
        logs.logger.emit(
            timestamp=T0 + 30,
            body=7,
            attributes={"event.name": "loses"},
            event_name="wins",
        )
    logs.logger.emit(timestamp=T0 + 40, severity_number=SeverityNumber.ERROR)  # no span, no body
    span.end(end_time=T0 + 100)

    request = logs.request()
    flags = [r.flags for rl in request.resource_logs for sl in rl.scope_logs for r in sl.log_records]
    batch = normalize_logs(request, "default")
    assert batch.spans == [] and batch.contents == {}
    first, second, third, outside = batch.logs

    trace_id, span_id = _hex_trace(span), _hex_span(span.get_span_context().span_id)
    for row in (first, second, third):
        assert (row["TraceId"], row["SpanId"]) == (trace_id, span_id)
    assert (outside["TraceId"], outside["SpanId"]) == ("", "")
    assert [row["TraceFlags"] for row in batch.logs] == flags

    assert first["EventName"] == "gen_ai.client.inference.operation.details"
    assert second["EventName"] == "from.attribute"
    assert third["EventName"] == "wins"
    assert outside["EventName"] == ""

    assert json.loads(first["Body"]) == {"messages": [U1], "n": 1}
    assert json.loads(second["Body"]) == "plain text"
    assert json.loads(third["Body"]) == 7
    assert outside["Body"] == ""

    assert first["Timestamp"] == "1700000000.123456799"
    assert first["ObservedTimestamp"] == "1700000000.123456809"
    # Without a timestamp, the observed time stands in.
    assert second["Timestamp"] == second["ObservedTimestamp"] == "1700000000.123456789"
    assert (first["SeverityNumber"], first["SeverityText"]) == (9, "INFO")
    assert outside["SeverityNumber"] == 17
    assert first["LogAttributes"] == {"k": "1", "flag": "true"}
    for row in batch.logs:
        assert row["Tenant"] == "default"
        assert row["ServiceName"] == "log-svc"
        assert row["ResourceAttributes"]["service.name"] == "log-svc"
        assert (row["ScopeName"], row["ScopeVersion"]) == ("tests.logs", "0.9")


def _log_request(*records: LogRecord, resource: dict[str, str] | None = None) -> ExportLogsServiceRequest:
    return ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=PbResource(
                    attributes=[KeyValue(key=k, value=_any(v)) for k, v in (resource or {}).items()]
                ),
                scope_logs=[
                    ScopeLogs(scope=InstrumentationScope(name="hand", version="1"), log_records=list(records))
                ],
            )
        ]
    )


# A2 as a GenAI <= 1.36 ``gen_ai.choice`` event carries it.
LEGACY_A2 = {"role": "assistant", "content": "42.5 — ünïcode ✓"}


def test_hand_built_logs_data_with_tenant_and_structured_body() -> None:
    record = LogRecord(
        time_unix_nano=T0,
        observed_time_unix_nano=T0 + 1,
        severity_number=13,
        severity_text="WARN",
        trace_id=bytes.fromhex("0af7651916cd43dd8448eb211c80319c"),
        span_id=bytes.fromhex("b7ad6b7169203331"),
        flags=1,
        event_name="gen_ai.choice",
        body=_any({"index": 0, "finish_reason": "stop", "message": LEGACY_A2}),
        attributes=[KeyValue(key="gen_ai.provider.name", value=_any("openai"))],
    )
    batch = normalize_logs(
        _log_request(record, resource={"trajotel.tenant": "acme", "service.name": "hand-svc"}), "default"
    )
    (row,) = batch.logs
    assert row["Tenant"] == "acme"
    assert row["ServiceName"] == "hand-svc"
    assert row["TraceId"] == "0af7651916cd43dd8448eb211c80319c"
    assert row["SpanId"] == "b7ad6b7169203331"
    assert row["TraceFlags"] == 1
    assert row["EventName"] == "gen_ai.choice"
    # A legacy content event's message is stored once, canonical, by hash; not again in Body.
    assert row["Body"] == ""
    assert _message_bodies(batch, "acme", row["OutputMessageHashes"]) == [A2]
    assert row["Timestamp"] == "1700000000.123456789"
    assert row["ObservedTimestamp"] == "1700000000.123456790"
    assert (row["SeverityNumber"], row["SeverityText"]) == (13, "WARN")
    assert row["LogAttributes"] == {"gen_ai.provider.name": "openai"}
    assert (row["ScopeName"], row["ScopeVersion"]) == ("hand", "1")


# --- store round trip ------------------------------------------------------------------------------


def _agent_spans() -> tuple[list[ReadableSpan], LogRecorder]:
    rec = Recorder({"trajotel.tenant": "acme"})
    logs = LogRecorder({"trajotel.tenant": "acme"})
    agent = rec.tracer.start_span(
        "invoke_agent a", start_time=T0, attributes={"gen_ai.operation.name": "invoke_agent"}
    )
    ctx = trace.set_span_in_context(agent)
    chats = []
    for i, (inputs, outputs) in enumerate([([U1], [A1]), ([U1, A1, T1], [A2])]):
        chat = rec.tracer.start_span(
            f"chat {i}",
            context=ctx,
            kind=SpanKind.CLIENT,
            start_time=T0 + 1_000_000 * (i + 1) + 7,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.system": "az.ai.openai",
                "gen_ai.usage.prompt_tokens": 10 * (i + 1),
                "gen_ai.usage.completion_tokens": 5,
                "gen_ai.response.finish_reasons": ["stop"],
                "gen_ai.input.messages": json.dumps(inputs),
                "gen_ai.output.messages": json.dumps(outputs),
                "gen_ai.system_instructions": json.dumps(SYSTEM),
            },
            links=[Link(agent.get_span_context(), {"why": "test"})],
        )
        chat.add_event("gen_ai.content.chunk", {"i": i}, timestamp=T0 + 1_000_000 * (i + 1) + 123)
        with trace.use_span(chat, end_on_exit=False):
            logs.logger.emit(
                timestamp=T0 + 1_000_000 * (i + 1) + 99, body={"turn": i}, event_name="gen_ai.turn"
            )
        chat.end(end_time=T0 + 1_000_000 * (i + 2) - 1)
        chats.append(chat)
    agent.end(end_time=T0 + 10_000_000_001)
    return rec.spans, logs


def test_store_round_trip_keeps_every_nanosecond(store: Store) -> None:
    spans, logs = _agent_spans()
    batch = _normalize(spans)
    batch.extend(normalize_logs(logs.request(), "default"))
    write_batch(store, batch, list(batch.contents), f"test-{uuid.uuid4().hex}")

    stored = {
        r[0]: r[1:]
        for r in store.query(
            "SELECT SpanId, Tenant, toUnixTimestamp64Nano(Timestamp), toUnixTimestamp64Nano(EndTimestamp),"
            " Duration, arrayMap(t -> toUnixTimestamp64Nano(t), `Events.Timestamp`), Provider, InputTokens,"
            " FinishReasons, InputMessageHashes, SpanAttributes, `Links.SpanId` FROM spans"
        ).rows
    }
    assert len(stored) == len(spans) == 3
    for span in spans:
        row = stored[_hex_span(span.context.span_id)]
        tenant, start, end, duration, events, provider, tokens, finish, hashes, attrs, links = row
        assert tenant == "acme"
        assert start == span.start_time
        assert end == span.end_time
        assert duration == span.end_time - span.start_time
        assert events == [e.timestamp for e in span.events]
        if span.name.startswith("chat"):
            assert provider == "azure.ai.openai"
            assert tokens == span.attributes["gen_ai.usage.prompt_tokens"]
            assert finish == ["stop"]
            assert len(hashes) == len(json.loads(span.attributes["gen_ai.input.messages"]))
            assert "gen_ai.input.messages" not in attrs
            assert attrs["gen_ai.provider.name"] == "azure.ai.openai"
            assert links == [_hex_span(spans[-1].context.span_id)]
        else:
            assert tokens is None and hashes == [] and links == []

    contents = {
        (t, h): (k, c)
        for t, h, k, c in store.query("SELECT Tenant, Hash, Kind, Content FROM message_contents").rows
    }
    assert contents == batch.contents
    assert len(contents) == 5  # U1, A1, T1, A2 and the system instructions, each once

    expected_logs = sorted(
        (format(r.log_record.span_id, "016x"), r.log_record.timestamp)
        for r in logs.exporter.get_finished_logs()
    )
    assert (
        sorted(
            tuple(r) for r in store.query("SELECT SpanId, toUnixTimestamp64Nano(Timestamp) FROM logs").rows
        )
        == expected_logs
    )
    assert store.query("SELECT DISTINCT Tenant, EventName FROM logs").rows == [["acme", "gen_ai.turn"]]


def test_store_insert_with_the_same_token_is_a_no_op(store: Store) -> None:
    spans, logs = _agent_spans()
    batch = _normalize(spans)
    batch.extend(normalize_logs(logs.request(), "default"))
    token = f"test-{uuid.uuid4().hex}"
    write_batch(store, batch, list(batch.contents), token)
    write_batch(store, batch, list(batch.contents), token)
    assert store.query("SELECT count() FROM spans").rows == [[3]]
    assert store.query("SELECT count() FROM logs").rows == [[2]]


def _span_at(ns: int) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                scope_spans=[
                    ScopeSpans(
                        spans=[
                            PbSpan(
                                trace_id=b"\x0a" * 16,
                                span_id=b"\x0b" * 8,
                                name="at",
                                start_time_unix_nano=ns,
                                end_time_unix_nano=ns + 1,
                            )
                        ]
                    )
                ]
            )
        ]
    )


@pytest.mark.parametrize(
    "ns",
    [
        T0,
        1_000_000_000_000_000_000,
        100_000_000_000_000_000,
        2**63 - 2,
        99_999_999_999_999_999,  # before 1973: fewer than 10 digits of seconds
        1,
        0,  # OTLP's 'unknown'
    ],
)
def test_timestamp_text_is_parsed_exactly_by_the_store(store: Store, ns: int) -> None:
    batch = normalize_traces(_span_at(ns), "default")
    write_batch(store, batch, [], f"test-{uuid.uuid4().hex}")
    assert store.query(
        "SELECT toUnixTimestamp64Nano(Timestamp), toUnixTimestamp64Nano(EndTimestamp) FROM spans"
    ).rows == [[ns, ns + 1]]


def test_log_without_observed_time_is_stored(store: Store) -> None:
    record = LogRecord(time_unix_nano=T0, body=_any("hello"), event_name="e")
    batch = normalize_logs(_log_request(record), "default")
    write_batch(store, batch, [], f"test-{uuid.uuid4().hex}")
    assert store.query(
        "SELECT toUnixTimestamp64Nano(Timestamp), toUnixTimestamp64Nano(ObservedTimestamp), Body FROM logs"
    ).rows == [[T0, 0, '"hello"']]


def test_mixed_old_and_new_names_on_one_span_are_all_made_canonical() -> None:
    # Instrumentations in transition: the new provider key next to the old token keys.
    row = _one(
        Recorder().span(
            "chat gpt-4",
            {
                "gen_ai.provider.name": "openai",
                "gen_ai.operation.name": "chat",
                "gen_ai.usage.prompt_tokens": 12,
                "gen_ai.usage.completion_tokens": 3,
            },
        )
    )
    assert (row["InputTokens"], row["OutputTokens"]) == (12, 3)
    assert "gen_ai.usage.prompt_tokens" not in row["SpanAttributes"]


def test_growing_history_reuses_the_previous_call_and_stays_exact() -> None:
    from trajotel.normalize.content import ContentSink, split_json_array

    first = '[{"role":"user","parts":[]},{"role":"assistant","parts":[]}]'
    grown = '[{"role":"user","parts":[]},{"role":"assistant","parts":[]} , {"role":"tool","parts":[]}]'
    number_prefix = "[1"
    sink = ContentSink(NormalizedBatch())
    sink.trace = "t1"
    value = AnyValue(string_value=first)
    assert len(sink.put_messages(value, is_input=True)) == 2
    hashes = sink.put_messages(AnyValue(string_value=grown), is_input=True)
    assert hashes[:2] == sink.put_messages(value, is_input=True)
    assert len(hashes) == 3
    # The same messages in another trace, parsed from scratch, hash the same.
    other = ContentSink(NormalizedBatch())
    other.trace = "t2"
    assert other.put_messages(AnyValue(string_value=grown), is_input=True) == hashes
    # A textual prefix that is not an element boundary falls back to a full parse.
    sink.put_messages(AnyValue(string_value=number_prefix + "]"), is_input=True)
    assert len(sink.put_messages(AnyValue(string_value="[12, 3]"), is_input=True)) == 2
    assert split_json_array("[12, 3]")[0][0] == ("12", 12)
    with pytest.raises(ValueError):
        sink.put_messages(AnyValue(string_value='[{"role":"user"} {"x":1}]'), is_input=True)
