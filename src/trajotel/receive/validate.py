"""Reject spans and log records whose ids would corrupt trajectory assembly.

Trajectories are rebuilt by joining spans on (trace_id, span_id, parent_span_id); one span with a
3-byte trace id or an all-zero span id would silently attach to the wrong tree or to none. OTLP lets
a receiver drop such items and tell the exporter through ``partial_success`` (the rest of the
request is still accepted), so that is what we do here.

Validation is one pass over the ids. When everything is valid (the overwhelmingly common case) the
request is returned as is; only a request with rejects is rebuilt, without the rejected items.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span

TRACE_ID_BYTES = 16
SPAN_ID_BYTES = 8
_ZERO_TRACE_ID = bytes(TRACE_ID_BYTES)
_ZERO_SPAN_ID = bytes(SPAN_ID_BYTES)
MAX_REPORTED = 5  # problems spelled out in the error message; the rest are only counted

RequestT = TypeVar("RequestT", ExportTraceServiceRequest, ExportLogsServiceRequest)


@dataclass(frozen=True, slots=True)
class ValidationResult(Generic[RequestT]):
    request: RequestT  # the input itself when nothing was rejected, else a cleaned copy
    accepted: int  # spans / log records left in ``request``
    rejected: int  # spans / log records removed
    error_message: str  # "" when nothing was rejected; goes into partial_success.error_message


def _id_problem(field: str, value: bytes, size: int, *, required: bool) -> str | None:
    """Why ``value`` is not a valid id, or None. Optional ids may be empty; required ones not."""
    if not value:
        return f"{field} is missing" if required else None
    if len(value) != size:
        return f"{field} is {len(value)} bytes, must be {size}" + ("" if required else " or absent")
    if required and not any(value):
        return f"{field} is all zeros"
    return None


def _span_problems(span: Span) -> list[str]:
    problems = [
        _id_problem("trace_id", span.trace_id, TRACE_ID_BYTES, required=True),
        _id_problem("span_id", span.span_id, SPAN_ID_BYTES, required=True),
        _id_problem("parent_span_id", span.parent_span_id, SPAN_ID_BYTES, required=False),
    ]
    return [p for p in problems if p]


def _log_problems(record: LogRecord) -> list[str]:
    # Log records need no ids at all (most logs are not emitted inside a span), but ids that are
    # present must be well-formed. All-zero ids are what some SDKs send for "no span": not rejected.
    problems = [
        _id_problem("trace_id", record.trace_id, TRACE_ID_BYTES, required=False),
        _id_problem("span_id", record.span_id, SPAN_ID_BYTES, required=False),
    ]
    return [p for p in problems if p]


def _quote(text: str, limit: int = 80) -> str:
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return '"' + text.replace('"', '\\"') + '"'


def _summarise(problems: list[str], rejected: int, noun: str) -> str:
    def plural(n: int) -> str:
        return noun if n == 1 else noun + "s"

    message = "; ".join(problems)
    if (rest := rejected - len(problems)) > 0:
        message += f"; and {rest} more {plural(rest)} with invalid ids"
    return f"rejected {rejected} {plural(rejected)}: {message}"


def _fast_path_ok_spans(req: ExportTraceServiceRequest) -> tuple[bool, int]:
    """(all valid?, span count). Checks inlined rather than via _span_problems: runs on every request."""
    count = 0
    for rs in req.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                count += 1
                t, s, p = span.trace_id, span.span_id, span.parent_span_id
                if (
                    len(t) != TRACE_ID_BYTES
                    or len(s) != SPAN_ID_BYTES
                    or (p and len(p) != SPAN_ID_BYTES)
                    or t == _ZERO_TRACE_ID
                    or s == _ZERO_SPAN_ID
                ):
                    return False, count
    return True, count


def validate_traces(req: ExportTraceServiceRequest) -> ValidationResult[ExportTraceServiceRequest]:
    """Drop spans with invalid ids (and the scope/resource containers left empty by that)."""
    ok, count = _fast_path_ok_spans(req)
    if ok:
        return ValidationResult(req, count, 0, "")

    out = ExportTraceServiceRequest()
    accepted = rejected = 0
    reported: list[str] = []
    for r_index, rs in enumerate(req.resource_spans):
        kept_scopes = []
        for ss in rs.scope_spans:
            kept = []
            for span in ss.spans:
                problems = _span_problems(span)
                if not problems:
                    kept.append(span)
                    continue
                rejected += 1
                if len(reported) < MAX_REPORTED:
                    where = f"resource {r_index}, scope {_quote(ss.scope.name)}"
                    reported.append(f"span {_quote(span.name)} ({where}): {', '.join(problems)}")
            accepted += len(kept)
            # Keep containers that were empty to begin with (harmless); drop those we emptied.
            if kept or not ss.spans:
                kept_scopes.append((ss, kept))
        if not kept_scopes and rs.scope_spans:
            continue
        new_rs = out.resource_spans.add()
        new_rs.resource.CopyFrom(rs.resource)
        new_rs.schema_url = rs.schema_url
        for ss, kept in kept_scopes:
            new_ss = new_rs.scope_spans.add()
            new_ss.scope.CopyFrom(ss.scope)
            new_ss.schema_url = ss.schema_url
            new_ss.spans.extend(kept)
    return ValidationResult(out, accepted, rejected, _summarise(reported, rejected, "span"))


def _fast_path_ok_logs(req: ExportLogsServiceRequest) -> tuple[bool, int]:
    count = 0
    for rl in req.resource_logs:
        for sl in rl.scope_logs:
            for record in sl.log_records:
                count += 1
                t, s = record.trace_id, record.span_id
                if (t and len(t) != TRACE_ID_BYTES) or (s and len(s) != SPAN_ID_BYTES):
                    return False, count
    return True, count


def validate_logs(req: ExportLogsServiceRequest) -> ValidationResult[ExportLogsServiceRequest]:
    """Drop log records whose trace_id/span_id is present but of the wrong length."""
    ok, count = _fast_path_ok_logs(req)
    if ok:
        return ValidationResult(req, count, 0, "")

    out = ExportLogsServiceRequest()
    accepted = rejected = 0
    reported: list[str] = []
    for r_index, rl in enumerate(req.resource_logs):
        kept_scopes = []
        for sl in rl.scope_logs:
            kept = []
            for l_index, record in enumerate(sl.log_records):
                problems = _log_problems(record)
                if not problems:
                    kept.append(record)
                    continue
                rejected += 1
                if len(reported) < MAX_REPORTED:
                    where = f"resource {r_index}, scope {_quote(sl.scope.name)}"
                    if record.event_name:
                        where += f", event {_quote(record.event_name)}"
                    reported.append(f"log record {l_index} ({where}): {', '.join(problems)}")
            accepted += len(kept)
            if kept or not sl.log_records:
                kept_scopes.append((sl, kept))
        if not kept_scopes and rl.scope_logs:
            continue
        new_rl = out.resource_logs.add()
        new_rl.resource.CopyFrom(rl.resource)
        new_rl.schema_url = rl.schema_url
        for sl, kept in kept_scopes:
            new_sl = new_rl.scope_logs.add()
            new_sl.scope.CopyFrom(sl.scope)
            new_sl.schema_url = sl.schema_url
            new_sl.log_records.extend(kept)
    return ValidationResult(out, accepted, rejected, _summarise(reported, rejected, "log record"))
