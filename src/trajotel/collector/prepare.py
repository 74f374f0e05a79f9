"""Turning one spool record into insert-ready bytes: decode, normalize, encode.

This is the CPU-heavy part of ingest and it is pure: it runs in the writer's thread or, with
``writer.workers`` > 1, in worker processes (one Python process uses one core at a time).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from trajotel.normalize import NormalizedBatch, normalize_logs, normalize_traces
from trajotel.spool import KIND_LOGS, KIND_TRACES
from trajotel.store.connection import encode_json_rows

TraceKey = tuple[str, str]


@dataclass
class PreparedRecord:
    spans: bytes = b""  # JSONEachRow rows for `spans`
    logs: bytes = b""  # JSONEachRow rows for `logs`
    span_count: int = 0
    # (tenant, hash) -> one encoded `message_contents` row; the writer drops those it sent before.
    contents: dict[TraceKey, bytes] = field(default_factory=dict)
    traces: set[TraceKey] = field(default_factory=set)
    genai_traces: set[TraceKey] = field(default_factory=set)
    agent_roots: set[TraceKey] = field(default_factory=set)  # traces whose invoke_agent root is here
    root_traces: set[TraceKey] = field(default_factory=set)  # traces whose root span (any) is here


def normalize_record(kind: int, payload: bytes, tenant: str) -> NormalizedBatch:
    if kind == KIND_TRACES:
        return normalize_traces(ExportTraceServiceRequest.FromString(payload), tenant)
    if kind == KIND_LOGS:
        return normalize_logs(ExportLogsServiceRequest.FromString(payload), tenant)
    raise ValueError(f"unknown spool record kind {kind}")


def prepare_record(kind: int, payload: bytes, tenant: str) -> PreparedRecord:
    batch = normalize_record(kind, payload, tenant)
    return PreparedRecord(
        spans=encode_json_rows(batch.spans),
        logs=encode_json_rows(batch.logs),
        span_count=len(batch.spans),
        contents={
            key: encode_json_rows([{"Tenant": key[0], "Hash": key[1], "Kind": kind_, "Content": text}])
            for key, (kind_, text) in batch.contents.items()
        },
        traces=batch.trace_ids(),
        genai_traces={(r["Tenant"], r["TraceId"]) for r in batch.spans if r["Operation"]}
        | batch.content_event_trace_ids(),
        agent_roots={
            (r["Tenant"], r["TraceId"])
            for r in batch.spans
            if r["Operation"] == "invoke_agent" and not r["ParentSpanId"]
        },
        root_traces={(r["Tenant"], r["TraceId"]) for r in batch.spans if not r["ParentSpanId"]},
    )


def worker_init(parent_pid: int) -> None:
    """Runs in each worker process: exit when the collector is gone, even after a SIGKILL that
    gave it no chance to stop its workers (the worker is then re-parented)."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="trajotel-parent-watch", daemon=True).start()
