"""Spans recorded with the real OpenTelemetry SDK -> the canonical rows the assembler reads,
through the real normalizer (no store), plus the content bodies they reference."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer

from trajotel.normalize import normalize_traces


@contextmanager
def recording(service: str = "test-agent") -> Iterator[tuple[Tracer, list[ReadableSpan]]]:
    """A tracer; the list fills with the finished spans when the block exits."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    finished: list[ReadableSpan] = []
    yield provider.get_tracer("tests.assemble"), finished
    finished.extend(exporter.get_finished_spans())
    provider.shutdown()


def to_rows(spans: Sequence[ReadableSpan]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """(span rows as ``store.trajectories.load_trace_spans`` returns them, hash -> content)."""
    batch = normalize_traces(encode_spans(spans), "default")
    times = {format(s.context.span_id, "016x"): (s.start_time, s.end_time) for s in spans}
    rows = []
    for row in batch.spans:
        start, end = times[row["SpanId"]]
        rows.append({**row, "StartNs": start, "EndNs": max(start, end)})
    contents = {digest: text for (_tenant, digest), (_kind, text) in batch.contents.items()}
    return rows, contents


def messages(value: list[dict[str, Any]]) -> str:
    return json.dumps(value)
