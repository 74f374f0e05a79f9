"""OTLP trace and log requests -> canonical rows (see ``records``).

Dialects are made canonical through the rename tables in ``dialects``; GenAI message content
is pulled out of the attributes, stored once per distinct message (content-addressed) and
referenced from the span by hash.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from trajotel import semconv as sc
from trajotel.normalize import dialects, events
from trajotel.normalize.content import ContentSink, extract_content, tool_response_message
from trajotel.normalize.dialect import Dialect
from trajotel.normalize.records import (
    KIND_MESSAGE,
    KIND_SYSTEM_INSTRUCTIONS,
    KIND_TOOL_DEFINITIONS,
    NormalizedBatch,
)
from trajotel.normalize.values import (
    any_value_to_python,
    any_value_to_text,
    attributes_to_map,
    dumps,
    ns_to_text,
)

log = logging.getLogger(__name__)

_KINDS = {0: "Unspecified", 1: "Internal", 2: "Server", 3: "Client", 4: "Producer", 5: "Consumer"}
_STATUS = {0: "Unset", 1: "Ok", 2: "Error"}
_CONTENT_KEYS = frozenset(sc.CONTENT_ATTRIBUTES)
# Marks a content attribute that could not be parsed and was kept verbatim in SpanAttributes.
NORMALIZE_ERROR = "trajotel.normalize.error"


def _int_or_none(text: str | None) -> int | None:
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        try:
            return int(float(text))
        except ValueError:
            return None


def _string_list(text: str | None) -> list[str]:
    if not text:
        return []
    try:
        value = json.loads(text)
    except ValueError:
        return [text]
    if isinstance(value, list):
        return [v if isinstance(v, str) else dumps(v) for v in value]
    return [text]


def _explain(attributes: dict[str, str], problem: str) -> None:
    earlier = attributes.get(NORMALIZE_ERROR)
    attributes[NORMALIZE_ERROR] = f"{earlier}; {problem}" if earlier else problem


# Shaped field -> (row column, content kind); message lists give a list of hashes.
_SHAPED_COLUMNS = (
    ("input_messages", "InputMessageHashes", KIND_MESSAGE),
    ("output_messages", "OutputMessageHashes", KIND_MESSAGE),
    ("system_instructions", "SystemInstructionsHash", KIND_SYSTEM_INSTRUCTIONS),
    ("tool_definitions", "ToolDefinitionsHash", KIND_TOOL_DEFINITIONS),
)


def _adopt_shaped(
    dialect: Dialect, attributes: dict[str, str], row: dict[str, Any], content: ContentSink
) -> dict[str, str]:
    """Run the dialect's shape function: its content joins the span's content-addressed content
    (canonical GenAI content on the same span wins) and the attributes it consumed are dropped.
    Content it cannot read stays verbatim, explained in ``trajotel.normalize.error``."""
    assert dialect.shape is not None
    try:
        shaped = dialect.shape(attributes)
    except Exception as exc:  # a shape function's bug must not cost the batch: the span stays raw
        if not isinstance(exc, ValueError | TypeError):
            log.warning("dialect %s could not shape a span", dialect.name, exc_info=True)
        _explain(attributes, f"{dialect.name}: {exc}")
        return attributes
    for name, column, kind in _SHAPED_COLUMNS:
        value = getattr(shaped, name)
        if value is None or row[column]:
            continue
        row[column] = (
            [content.put(kind, m) for m in value] if kind == KIND_MESSAGE else content.put(kind, value)
        )
    out = {key: value for key, value in attributes.items() if key not in shaped.consumed}
    for key, value in shaped.attributes.items():
        out.setdefault(key, value)
    return out


def _span_row(
    span: Any, resource: dict[str, str], scope: Any, schema_url: str, tenant: str, content: ContentSink
) -> dict[str, Any]:
    tenant = resource.get(sc.TRAJOTEL_TENANT, tenant)
    trace_id = span.trace_id.hex()
    content.tenant = tenant
    content.trace = trace_id
    row: dict[str, Any] = {
        "InputMessageHashes": [],
        "OutputMessageHashes": [],
        "SystemInstructionsHash": "",
        "ToolDefinitionsHash": "",
        "ToolCallResultHash": "",
    }
    attributes: dict[str, str] = {}
    for kv in span.attributes:
        if kv.key in _CONTENT_KEYS:
            try:
                extract_content(kv.key, kv.value, row, content)
                continue
            except (ValueError, TypeError) as exc:
                # Truncated or foreign content stays verbatim and queryable; say why.
                _explain(attributes, f"{kv.key}: {exc}")
        attributes[kv.key] = any_value_to_text(kv.value)

    matched = dialects.detect(attributes)
    for dialect in matched:
        attributes = dialects.apply(dialect, attributes)
        if dialect.shape is not None:
            attributes = _adopt_shaped(dialect, attributes, row, content)
    result = attributes.pop(sc.GEN_AI_TOOL_CALL_RESULT, None)
    if result is not None:
        message = tool_response_message(attributes.get(sc.GEN_AI_TOOL_CALL_ID, ""), result)
        row["ToolCallResultHash"] = content.put(KIND_MESSAGE, message)
    get = attributes.get
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    events = span.events
    links = span.links
    row.update(
        {
            "Tenant": tenant,
            "TraceId": trace_id,
            "SpanId": span.span_id.hex(),
            "ParentSpanId": span.parent_span_id.hex(),
            "TraceState": span.trace_state,
            "SpanName": span.name,
            "SpanKind": _KINDS.get(span.kind, "Unspecified"),
            "Timestamp": ns_to_text(start),
            "EndTimestamp": ns_to_text(max(end, start)),
            "Duration": max(end - start, 0),
            "StatusCode": _STATUS.get(span.status.code, "Unset"),
            "StatusMessage": span.status.message,
            "ServiceName": resource.get(sc.SERVICE_NAME, ""),
            "ResourceAttributes": resource,
            "ScopeName": scope.name,
            "ScopeVersion": scope.version,
            "SchemaUrl": schema_url,
            "SpanAttributes": attributes,
            "Events.Timestamp": [ns_to_text(e.time_unix_nano) for e in events] if events else [],
            "Events.Name": [e.name for e in events] if events else [],
            "Events.Attributes": [attributes_to_map(e.attributes) for e in events] if events else [],
            "Links.TraceId": [lk.trace_id.hex() for lk in links] if links else [],
            "Links.SpanId": [lk.span_id.hex() for lk in links] if links else [],
            "Links.TraceState": [lk.trace_state for lk in links] if links else [],
            "Links.Attributes": [attributes_to_map(lk.attributes) for lk in links] if links else [],
            "Dialect": matched[0].name if matched else dialects.PLAIN,
            "Operation": get(sc.GEN_AI_OPERATION_NAME, ""),
            "Provider": get(sc.GEN_AI_PROVIDER_NAME, ""),
            "RequestModel": get(sc.GEN_AI_REQUEST_MODEL, ""),
            "ResponseModel": get(sc.GEN_AI_RESPONSE_MODEL, ""),
            "ResponseId": get(sc.GEN_AI_RESPONSE_ID, ""),
            "ConversationId": get(sc.GEN_AI_CONVERSATION_ID, ""),
            "AgentName": get(sc.GEN_AI_AGENT_NAME, ""),
            "ToolName": get(sc.GEN_AI_TOOL_NAME, ""),
            "ToolCallId": get(sc.GEN_AI_TOOL_CALL_ID, ""),
            "InputTokens": _int_or_none(get(sc.GEN_AI_USAGE_INPUT_TOKENS)),
            "OutputTokens": _int_or_none(get(sc.GEN_AI_USAGE_OUTPUT_TOKENS)),
            "FinishReasons": _string_list(get(sc.GEN_AI_RESPONSE_FINISH_REASONS)),
            "ErrorType": get(sc.ERROR_TYPE, ""),
        }
    )
    return row


def normalize_traces(request: ExportTraceServiceRequest, tenant: str) -> NormalizedBatch:
    batch = NormalizedBatch()
    content = ContentSink(batch)
    for resource_spans in request.resource_spans:
        resource = attributes_to_map(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            schema_url = scope_spans.schema_url or resource_spans.schema_url
            for span in scope_spans.spans:
                batch.spans.append(_span_row(span, resource, scope_spans.scope, schema_url, tenant, content))
    return batch


def _log_row_content(
    record: Any, event_name: str, body: Any, attributes: dict[str, str], content: ContentSink
) -> tuple[dict[str, Any], bool]:
    """The content columns of a log row, and whether the body's content moved to the content
    store (then it is not kept twice). Unreadable content stays where it was, explained."""
    row: dict[str, Any] = {
        "InputMessageHashes": [],
        "OutputMessageHashes": [],
        "SystemInstructionsHash": "",
        "ToolDefinitionsHash": "",
    }
    if event_name not in events.CONTENT_EVENTS:
        return row, False
    try:
        body_moved = events.extract_event_content(record, event_name, body, row, content)
    except (ValueError, TypeError) as exc:
        _explain(attributes, f"{event_name}: {exc}")
        return {key: [] if isinstance(value, list) else "" for key, value in row.items()}, False
    for key in _CONTENT_KEYS.intersection(attributes):  # now stored by hash
        del attributes[key]
    return row, body_moved


def normalize_logs(request: ExportLogsServiceRequest, tenant: str) -> NormalizedBatch:
    """Log records are kept whole, except GenAI content events: their messages are stored once,
    content-addressed, like span content, and belong to their span (by ids)."""
    batch = NormalizedBatch()
    content = ContentSink(batch)
    for resource_logs in request.resource_logs:
        resource = attributes_to_map(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            scope = scope_logs.scope
            for record in scope_logs.log_records:
                attributes = attributes_to_map(record.attributes)
                body = any_value_to_python(record.body) if record.HasField("body") else None
                event_name = record.event_name or attributes.get(sc.EVENT_NAME, "")
                content.tenant = resource.get(sc.TRAJOTEL_TENANT, tenant)
                content.trace = record.trace_id.hex()
                row, body_moved = _log_row_content(record, event_name, body, attributes, content)
                if body_moved:
                    body = None
                row.update(
                    {
                        "Tenant": content.tenant,
                        "Timestamp": ns_to_text(record.time_unix_nano or record.observed_time_unix_nano),
                        "ObservedTimestamp": ns_to_text(record.observed_time_unix_nano),
                        "TraceId": content.trace,
                        "SpanId": record.span_id.hex(),
                        "TraceFlags": record.flags,
                        "SeverityText": record.severity_text,
                        "SeverityNumber": int(record.severity_number),
                        "ServiceName": resource.get(sc.SERVICE_NAME, ""),
                        "EventName": event_name,
                        "Body": "" if body is None else dumps(body),
                        "ResourceAttributes": resource,
                        "ScopeName": scope.name,
                        "ScopeVersion": scope.version,
                        "LogAttributes": attributes,
                    }
                )
                batch.logs.append(row)
    return batch
