"""OTLP/JSON <-> protobuf, per the OTLP specification's JSON mapping.

OTLP/JSON is proto3 JSON with one deliberate exception: trace and span ids are hex strings, not
the base64 that proto3 JSON uses for ``bytes``. ``json_format`` does everything else right (enums
as ints or names, 64-bit ints as strings or numbers, lowerCamelCase or original field names,
``ignore_unknown_fields`` for the spec's "receivers MUST ignore unknown fields"), so we rewrite the
hex ids to base64 in the parsed dict and hand the result to ``json_format``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from trajotel.errors import InvalidInputError

M = TypeVar("M", bound=Message)


def _get(obj: dict[str, Any], camel: str, snake: str) -> Any:
    """A field by its lowerCamelCase (OTLP) or original proto (protobuf JSON) name."""
    return obj.get(camel) if camel in obj else obj.get(snake)


def _items(obj: Any, camel: str, snake: str) -> list[Any]:
    """The list under ``camel``/``snake``; anything malformed is left for json_format to report."""
    if not isinstance(obj, dict):
        return []
    value = _get(obj, camel, snake)
    return value if isinstance(value, list) else []


def _hex_to_base64(obj: dict[str, Any], camel: str, snake: str, describe: Callable[[], str]) -> None:
    for key in (camel, snake):
        value = obj.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidInputError(
                f"{describe()}: {camel} must be a hex string, got {type(value).__name__}",
                hint="OTLP/JSON encodes trace and span ids as hex strings",
            )
        try:
            raw = binascii.unhexlify(value)
        except (binascii.Error, ValueError):
            shown = value if len(value) <= 40 else value[:37] + "..."
            raise InvalidInputError(
                f"{describe()}: {camel} {json.dumps(shown)} is not valid hex",
                hint="OTLP/JSON encodes trace and span ids as hex strings (not base64)",
            ) from None
        obj[key] = base64.b64encode(raw).decode("ascii")


def _span_label(span: Any, path: str) -> str:
    name = span.get("name") if isinstance(span, dict) else None
    return f"span {json.dumps(name)} ({path})" if isinstance(name, str) else f"span at {path}"


def _convert_trace_ids(doc: dict[str, Any]) -> None:
    for r, rs in enumerate(_items(doc, "resourceSpans", "resource_spans")):
        for s, ss in enumerate(_items(rs, "scopeSpans", "scope_spans")):
            for i, span in enumerate(_items(ss, "spans", "spans")):
                if not isinstance(span, dict):
                    continue
                path = f"resourceSpans[{r}].scopeSpans[{s}].spans[{i}]"

                def describe(span: Any = span, path: str = path) -> str:
                    return _span_label(span, path)

                _hex_to_base64(span, "traceId", "trace_id", describe)
                _hex_to_base64(span, "spanId", "span_id", describe)
                _hex_to_base64(span, "parentSpanId", "parent_span_id", describe)
                for k, link in enumerate(_items(span, "links", "links")):
                    if not isinstance(link, dict):
                        continue

                    def describe_link(span: Any = span, path: str = path, k: int = k) -> str:
                        return f"{_span_label(span, path)} links[{k}]"

                    _hex_to_base64(link, "traceId", "trace_id", describe_link)
                    _hex_to_base64(link, "spanId", "span_id", describe_link)


def _convert_log_ids(doc: dict[str, Any]) -> None:
    for r, rl in enumerate(_items(doc, "resourceLogs", "resource_logs")):
        for s, sl in enumerate(_items(rl, "scopeLogs", "scope_logs")):
            for i, record in enumerate(_items(sl, "logRecords", "log_records")):
                if not isinstance(record, dict):
                    continue
                path = f"resourceLogs[{r}].scopeLogs[{s}].logRecords[{i}]"

                def describe(path: str = path) -> str:
                    return f"log record {path}"

                _hex_to_base64(record, "traceId", "trace_id", describe)
                _hex_to_base64(record, "spanId", "span_id", describe)


def _load(body: bytes, what: str) -> dict[str, Any]:
    if not body.strip():
        return {}  # an empty body is an empty request, as for protobuf
    try:
        doc = json.loads(body)  # bytes: UTF-8/16/32 detected per RFC 8259
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"body is not valid JSON ({what}): {exc}") from None
    except RecursionError:
        raise InvalidInputError(f"body is not valid JSON ({what}): nested too deeply") from None
    if not isinstance(doc, dict):
        raise InvalidInputError(f"{what} must be a JSON object, got {type(doc).__name__}")
    return doc


# (camelName, snake_name, message type) from the request down to the items, to locate errors.
Level = tuple[str, str, type[Message]]
_TRACE_LEVELS: list[Level] = [
    ("resourceSpans", "resource_spans", trace_pb2.ResourceSpans),
    ("scopeSpans", "scope_spans", trace_pb2.ScopeSpans),
    ("spans", "spans", trace_pb2.Span),
]
_LOG_LEVELS: list[Level] = [
    ("resourceLogs", "resource_logs", logs_pb2.ResourceLogs),
    ("scopeLogs", "scope_logs", logs_pb2.ScopeLogs),
    ("logRecords", "log_records", logs_pb2.LogRecord),
]


def _locate(doc: Any, levels: list[Level], prefix: str = "") -> tuple[str, Exception] | None:
    """Path and error of the innermost element json_format rejects (json_format names no indices)."""
    if not levels:
        return None
    camel, snake, cls = levels[0]
    for i, item in enumerate(_items(doc, camel, snake)):
        try:
            json_format.ParseDict(item, cls(), ignore_unknown_fields=True)
        except (json_format.ParseError, RecursionError) as exc:
            path = f"{prefix}{camel}[{i}]"
            if cls is trace_pb2.Span and isinstance(item, dict) and isinstance(item.get("name"), str):
                path = f"span {json.dumps(item['name'])} ({path})"
            return _locate(item, levels[1:], path + ".") or (path, exc)
    return None


def _parse(doc: dict[str, Any], message: M, what: str, levels: list[Level]) -> M:
    try:
        return json_format.ParseDict(doc, message, ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError) as exc:
        # Error path only: parse again piece by piece to say which element is bad.
        found = _locate(doc, levels)
        where, error = found if found else ("", exc)
        detail = "nested too deeply" if isinstance(error, RecursionError) else str(error).rstrip(".")
        at = f" at {where}" if where else ""
        raise InvalidInputError(f"invalid OTLP/JSON {what}{at}: {detail}") from None


def decode_traces(body: bytes) -> ExportTraceServiceRequest:
    """Decode an OTLP/JSON traces body. Raises ``InvalidInputError`` saying what is wrong and where."""
    what = "ExportTraceServiceRequest"
    doc = _load(body, what)
    _convert_trace_ids(doc)
    return _parse(doc, ExportTraceServiceRequest(), what, _TRACE_LEVELS)


def decode_logs(body: bytes) -> ExportLogsServiceRequest:
    """Decode an OTLP/JSON logs body. Raises ``InvalidInputError`` saying what is wrong and where."""
    what = "ExportLogsServiceRequest"
    doc = _load(body, what)
    _convert_log_ids(doc)
    return _parse(doc, ExportLogsServiceRequest(), what, _LOG_LEVELS)


def encode(message: Message) -> bytes:
    """Any response message (Export*ServiceResponse, google.rpc.Status) as OTLP/JSON.

    Keys are lowerCamelCase and 64-bit ints decimal strings, as the spec asks. The response types
    carry no ids, so no hex conversion is needed in this direction.
    """
    return json_format.MessageToJson(message, indent=None).encode("utf-8")
