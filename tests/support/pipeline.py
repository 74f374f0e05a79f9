"""The collector's ingest and assembly, in process: spool -> store writer -> assembly worker on a
real store, driven step by step by a test (no threads, no clock: the test says when time passes)."""

from __future__ import annotations

import time
from pathlib import Path

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from trajotel.assemble.worker import AssemblyWorker
from trajotel.collector.ingest import SpoolSink, StoreWriter
from trajotel.spool import Spool
from trajotel.store import Store

LATER = 1e6  # seconds: a monotonic time far past any idle or orphan timeout


class InProcessPipeline:
    def __init__(self, store: Store, spool_dir: Path, idle_timeout_s: float = 5.0) -> None:
        self.store = store
        self.spool = Spool(spool_dir, max_bytes=1 << 30, segment_bytes=1 << 20)
        self.worker = AssemblyWorker(store, idle_timeout_s=idle_timeout_s, poll_interval_s=0.1)
        self.writer = StoreWriter(
            self.spool,
            store,
            tenant="default",
            batch_rows=10_000,
            flush_interval_s=0.0,
            on_stored=self.worker.notify,
        )
        self.sink = SpoolSink(self.spool)

    def store_request(self, request: ExportTraceServiceRequest | ExportLogsServiceRequest) -> None:
        """Accept one OTLP export request, as the receivers do, and store it."""
        if isinstance(request, ExportLogsServiceRequest):
            self.sink.export_logs(request)
        else:
            self.sink.export_traces(request)
        while self.writer.drain_once():
            pass

    def assemble(self, *, idle: bool = True) -> None:
        """One pass of the worker, now or (``idle``) once every queued trace went quiet."""
        self.worker.tick(now=time.monotonic() + (LATER if idle else 0.0))

    def close(self) -> None:
        self.spool.close()
