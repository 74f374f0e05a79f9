"""Real spans other instrumentations sent for one call of the same tool loop (tests/data/dialects/,
recorded against the fake LLM server), replayed through the real OpenTelemetry SDK and OTLP
encoder into the real normalizer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from trajotel.normalize import NormalizedBatch, normalize_traces

DATA = Path(__file__).resolve().parents[1] / "data" / "dialects"
_KINDS = {"SpanKind.CLIENT": SpanKind.CLIENT, "SpanKind.INTERNAL": SpanKind.INTERNAL}


def sample(name: str) -> dict[str, Any]:
    """A recorded span: name, scope, kind and attributes (values as the SDK took them)."""
    span: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text())["span"]
    return span


def normalize_attributes(
    attributes: dict[str, Any], name: str = "span", scope: str = "tests", kind: str = "SpanKind.INTERNAL"
) -> tuple[dict[str, Any], NormalizedBatch]:
    """One span with these attributes, exported by the SDK and normalized: (row, batch)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    provider.get_tracer(scope).start_span(name, kind=_KINDS[kind], attributes=attributes).end()
    batch = normalize_traces(encode_spans(exporter.get_finished_spans()), "default")
    (row,) = batch.spans
    return row, batch


def normalize_sample(name: str, **overrides: Any) -> tuple[dict[str, Any], NormalizedBatch]:
    span = sample(name)
    attributes = {k: v for k, v in {**span["attributes"], **overrides}.items() if v is not None}
    return normalize_attributes(attributes, span["name"], span["scope"], span["kind"])


def contents(batch: NormalizedBatch, hashes: list[str] | str) -> Any:
    """The stored canonical JSON behind a content hash (or each of a list of hashes)."""
    if isinstance(hashes, str):
        return json.loads(batch.contents["default", hashes][1])
    return [json.loads(batch.contents["default", h][1]) for h in hashes]


def tool_result(row: dict[str, Any], batch: NormalizedBatch) -> Any:
    """What an execute_tool span's row says the tool returned: the tool message its
    ``gen_ai.tool.call.result`` was stored as (``ToolCallResultHash``), which the row refers to
    in place of the attribute, and that message's call id."""
    assert "gen_ai.tool.call.result" not in row["SpanAttributes"]
    message = contents(batch, row["ToolCallResultHash"])
    assert message["role"] == "tool"
    (part,) = message["parts"]
    assert part["type"] == "tool_call_response" and part.get("id", "") == row["ToolCallId"]
    return part["response"]


def same_ids(value: Any, ids: dict[str, str] | None = None) -> Any:
    """``value`` with tool-call ids (``call_...``) numbered by first appearance: the fake server
    makes up new ids for every recording."""
    ids = {} if ids is None else ids
    if isinstance(value, dict):
        return {k: same_ids(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [same_ids(v, ids) for v in value]
    if isinstance(value, str) and value.startswith("call_"):
        return ids.setdefault(value, f"call#{len(ids)}")
    return value
