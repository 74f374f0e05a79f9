"""The receivers' sink: accepted requests go to the durable spool, then the store writer
normalizes and stores them in batches."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from trajotel.normalize import NormalizedBatch, normalize_logs, normalize_traces
from trajotel.spool import KIND_LOGS, KIND_TRACES, Position, Record, Spool
from trajotel.store import Store
from trajotel.store.spans import write_batch

log = logging.getLogger(__name__)


class SpoolSink:
    """Implements ``trajotel.receive.sink.ExportSink``: durable once the spool append returns."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool

    def export_traces(self, request: ExportTraceServiceRequest) -> None:
        if request.resource_spans:
            self.spool.append(KIND_TRACES, request.SerializeToString())

    def export_logs(self, request: ExportLogsServiceRequest) -> None:
        if request.resource_logs:
            self.spool.append(KIND_LOGS, request.SerializeToString())


class _RecentHashes:
    """Content hashes written recently, so an agent's repeated history is not re-sent to the store."""

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()

    def fresh(self, keys: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        return [k for k in keys if k not in self._seen]

    def add(self, hashes: Iterable[tuple[str, str]]) -> None:
        for h in hashes:
            self._seen[h] = None
            self._seen.move_to_end(h)
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)


def decode_record(record: Record, tenant: str) -> NormalizedBatch:
    if record.kind == KIND_TRACES:
        return normalize_traces(ExportTraceServiceRequest.FromString(record.payload), tenant)
    if record.kind == KIND_LOGS:
        return normalize_logs(ExportLogsServiceRequest.FromString(record.payload), tenant)
    raise ValueError(f"unknown spool record kind {record.kind}")


class StoreWriter(threading.Thread):
    """Drains the spool into the store in batches; the checkpoint moves only after a store write."""

    def __init__(
        self,
        spool: Spool,
        store: Store,
        *,
        tenant: str,
        batch_rows: int,
        flush_interval_s: float,
        on_stored: Callable[[set[tuple[str, str]]], None] | None = None,
    ) -> None:
        super().__init__(name="trajotel-store-writer", daemon=True)
        self.spool = spool
        self.store = store
        self.tenant = tenant
        self.batch_rows = batch_rows
        self.flush_interval_s = flush_interval_s
        self.on_stored = on_stored
        self._stop_event = threading.Event()
        self._recent = _RecentHashes()
        self.stored_spans = 0
        self.idle = threading.Event()  # set whenever everything in the spool is in the store

    def stop(self) -> None:
        self._stop_event.set()
        with self.spool._data:
            self.spool._data.notify_all()

    def run(self) -> None:
        backoff = 0.5
        while not self._stop_event.is_set():
            try:
                wrote = self.drain_once()
                backoff = 0.5
            except Exception:
                log.exception("storing spooled spans failed; they stay in the spool and will be retried")
                self._stop_event.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if not wrote:
                self.idle.set()
                self.spool.wait_for_data(self.flush_interval_s)

    def drain_once(self) -> bool:
        """Store one batch from the spool. Returns False when there was nothing to store."""
        start = self.spool.checkpoint
        # After a restart, re-form the batch that was in flight so its dedup token matches.
        limit = self.spool.pending
        deadline = time.monotonic() + self.flush_interval_s
        batch = NormalizedBatch()
        end: Position | None = None
        position = start
        while len(batch.spans) + len(batch.logs) < self.batch_rows:
            records = self.spool.read(position, 64)
            if limit is not None:
                records = [r for r in records if r.end <= limit]
            for record in records:
                try:
                    batch.extend(decode_record(record, self.tenant))
                except Exception:
                    # The receiver validated it; a record that still fails must not block the rest.
                    log.exception("spool record at %s could not be normalized; skipped", record.start)
                end = position = record.end
                if len(batch.spans) + len(batch.logs) >= self.batch_rows:
                    break
            if limit is not None and end is not None and end >= limit:
                break
            if not records:
                if end is None or time.monotonic() >= deadline or self._stop_event.is_set():
                    break
                self.spool.wait_for_data(max(deadline - time.monotonic(), 0.0))
        if end is None:
            return False
        self.idle.clear()
        self.spool.mark_pending(end)
        token = f"{start}-{end}"
        fresh = self._recent.fresh(batch.contents)
        write_batch(self.store, batch, fresh, token)
        self._recent.add(fresh)
        self.spool.commit(end)
        self.stored_spans += len(batch.spans)
        if self.on_stored is not None and batch.spans:
            self.on_stored(batch.trace_ids())
        return True
