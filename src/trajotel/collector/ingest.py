"""The receivers' sink and the store writer.

Accepted requests go to the durable spool (the export is acknowledged then). The writer drains
the spool in two threads: a preparer decodes, normalizes and encodes the next batch while an
inserter stores the previous one and advances the spool's checkpoint (chdb releases the GIL
while inserting, so the two overlap). Batches are stored strictly in spool order.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Protocol

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from trajotel.collector.prepare import PreparedRecord, TraceKey, prepare_record, worker_init
from trajotel.spool import KIND_LOGS, KIND_TRACES, Position, Record, Spool
from trajotel.store import Store
from trajotel.store.spans import write_encoded

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


class _RecentContent:
    """Content keys already sent to the store, so an agent's repeated history is not re-sent."""

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()

    def take_fresh(self, keys: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        fresh = [k for k in keys if k not in self._seen]
        for key in fresh:
            self._seen[key] = None
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return fresh


@dataclass
class PreparedBatch:
    start: Position
    end: Position
    bodies: dict[str, bytes]  # table -> JSONEachRow, in insert order
    span_count: int
    traces: set[TraceKey] = field(default_factory=set)  # every trace touched
    genai_traces: set[TraceKey] = field(default_factory=set)  # traces with GenAI spans in this batch
    agent_roots: set[TraceKey] = field(default_factory=set)  # traces whose invoke_agent root is here
    root_traces: set[TraceKey] = field(default_factory=set)  # traces whose root span (any) is here
    # (tenant, hash) -> encoded message_contents row of every body the batch references (stored
    # now or before): handed to the assembler with the spans body so it need not read them back.
    contents: dict[TraceKey, bytes] = field(default_factory=dict)


class StoredListener(Protocol):
    """Told after each batch is stored (``AssemblyWorker.notify``): the traces touched, those with
    GenAI spans, those whose invoke_agent root arrived, those whose root span (of any kind)
    arrived, and what was inserted."""

    def __call__(
        self,
        traces: set[TraceKey],
        genai_traces: set[TraceKey],
        agent_roots: set[TraceKey],
        *,
        root_traces: set[TraceKey],
        spans: bytes,
        contents: dict[TraceKey, bytes],
    ) -> None: ...


def _inline(fn: Callable[..., PreparedRecord], *args: object) -> Future[PreparedRecord]:
    """Run now, in this thread, with the same interface as a process pool."""
    future: Future[PreparedRecord] = Future()
    try:
        future.set_result(fn(*args))
    except Exception as exc:
        future.set_exception(exc)
    return future


class StoreWriter:
    """Drains the spool into the store; the checkpoint moves only after a batch is stored.

    Records are prepared (decoded, normalized, encoded) ahead of the batch being stored, in
    ``workers`` processes when more than one, and always merged in spool order."""

    def __init__(
        self,
        spool: Spool,
        store: Store,
        *,
        tenant: str,
        batch_rows: int,
        flush_interval_s: float,
        workers: int = 1,
        on_stored: StoredListener | None = None,
    ) -> None:
        self.spool = spool
        self.store = store
        self.tenant = tenant
        self.batch_rows = batch_rows
        self.flush_interval_s = flush_interval_s
        self.workers = max(1, workers)
        self.on_stored = on_stored
        self.stored_spans = 0
        self._recent = _RecentContent()
        self._queue: queue.Queue[PreparedBatch] = queue.Queue(maxsize=2)
        self._stop_event = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pool: ProcessPoolExecutor | None = None
        self._position = spool.checkpoint  # where the next batch starts
        self._read_to = spool.checkpoint  # records up to here are submitted
        self._in_flight: deque[tuple[Record, Future[PreparedRecord]]] = deque()
        self._pool_breaks: dict[Position, int] = {}
        # After a restart, the first batch is re-formed up to the batch that was in flight, so
        # its deduplication token matches and the store ignores what it already has.
        self._limit = spool.pending

    # --- the two halves ------------------------------------------------------------------
    def _new_pool(self) -> ProcessPoolExecutor:
        # "spawn": forking a process that runs chdb's threads is not safe.
        return ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=worker_init,
            initargs=(os.getpid(),),
        )

    def _restart_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()
        self._in_flight = deque(
            (record, self._pool.submit(prepare_record, record.kind, record.payload, self.tenant))
            for record, _ in self._in_flight
        )

    def _submit_more(self) -> None:
        room = 4 * self.workers - len(self._in_flight)
        if room <= 0:
            return
        records = self.spool.read(self._read_to, room)
        if self._limit is not None:
            records = [r for r in records if r.end <= self._limit]
        for record in records:
            if self._pool is not None:
                future = self._pool.submit(prepare_record, record.kind, record.payload, self.tenant)
            else:
                future = _inline(prepare_record, record.kind, record.payload, self.tenant)
            self._in_flight.append((record, future))
            self._read_to = record.end

    def prepare(self) -> PreparedBatch | None:
        """The next batch, prepared; None when the spool has nothing new."""
        start = self._position
        deadline = time.monotonic() + self.flush_interval_s
        parts: list[PreparedRecord] = []
        rows = 0
        end: Position | None = None
        while rows < self.batch_rows:
            self._submit_more()
            if not self._in_flight:
                if end is None or time.monotonic() >= deadline or self._stop_event.is_set():
                    break
                self.spool.wait_for_data(max(deadline - time.monotonic(), 0.0))
                continue
            record, future = self._in_flight[0]
            try:
                part = future.result()
            except BrokenProcessPool:
                # A worker died (killed, out of memory): that says nothing about the record, so
                # it is prepared again in a new pool; only a record that keeps killing workers
                # is given up on.
                self._pool_breaks[record.start] = self._pool_breaks.get(record.start, 0) + 1
                if self._pool_breaks[record.start] < 3:
                    log.error("a writer worker process died; restarting the pool")
                    self._restart_pool()
                    continue
                log.error("spool record at %s killed 3 worker processes; skipped", record.start)
                part = PreparedRecord()
            except Exception:
                # The receiver validated it; a record that still fails must not block the rest.
                log.exception("spool record at %s could not be normalized; skipped", record.start)
                part = PreparedRecord()
            self._in_flight.popleft()
            parts.append(part)
            rows += part.span_count + part.logs.count(b"\n") + (1 if part.logs else 0)
            end = record.end
            if self._limit is not None and end >= self._limit:
                self._limit = None
                break
        if end is None:
            return None
        self._position = end
        return self._merge(start, end, parts)

    def _merge(self, start: Position, end: Position, parts: list[PreparedRecord]) -> PreparedBatch:
        contents: dict[TraceKey, bytes] = {}
        for part in parts:
            contents.update(part.contents)
        fresh = self._recent.take_fresh(contents)
        bodies = {
            "message_contents": b"\n".join(contents[k] for k in fresh),
            "spans": b"\n".join(p.spans for p in parts if p.spans),
            "logs": b"\n".join(p.logs for p in parts if p.logs),
        }
        return PreparedBatch(
            start=start,
            end=end,
            bodies={table: body for table, body in bodies.items() if body},
            span_count=sum(p.span_count for p in parts),
            traces=set().union(*(p.traces for p in parts)),
            genai_traces=set().union(*(p.genai_traces for p in parts)),
            agent_roots=set().union(*(p.agent_roots for p in parts)),
            root_traces=set().union(*(p.root_traces for p in parts)),
            contents=contents,
        )

    def store_batch(self, batch: PreparedBatch) -> None:
        self.spool.mark_pending(batch.end)
        write_encoded(self.store, batch.bodies, f"{self.spool.id}:{batch.start}-{batch.end}")
        self.spool.commit(batch.end)
        self.stored_spans += batch.span_count
        if self.on_stored is not None and batch.traces:
            self.on_stored(
                batch.traces,
                batch.genai_traces,
                batch.agent_roots,
                root_traces=batch.root_traces,
                spans=batch.bodies.get("spans", b""),
                contents=batch.contents,
            )

    def drain_once(self) -> bool:
        """Prepare and store one batch in the calling thread. False when there was nothing."""
        batch = self.prepare()
        if batch is None:
            return False
        self.store_batch(batch)
        return True

    # --- threads ---------------------------------------------------------------------------
    def start(self) -> None:
        if self.workers > 1:
            self._pool = self._new_pool()
        self._threads = [
            threading.Thread(target=self._prepare_loop, name="trajotel-writer-prepare", daemon=True),
            threading.Thread(target=self._insert_loop, name="trajotel-writer-insert", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop_event.set()
        self.spool.wake_readers()
        for thread in self._threads:
            thread.join(timeout_s)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def is_alive(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def _prepare_loop(self) -> None:
        while not self._stop_event.is_set():
            try:
                batch = self.prepare()
            except Exception:
                log.exception("preparing spooled spans failed; retrying")
                self._stop_event.wait(1.0)
                continue
            if batch is None:
                self.spool.wait_for_data(self.flush_interval_s or 0.05)
                continue
            while not self._stop_event.is_set():
                try:
                    self._queue.put(batch, timeout=0.5)
                    break
                except queue.Full:
                    continue

    def _insert_loop(self) -> None:
        self.store.prefer_current_thread()  # storing acknowledged spans goes before readers
        backoff = 0.5
        while not (self._stop_event.is_set() and self._queue.empty()):
            try:
                batch = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            while True:
                try:
                    self.store_batch(batch)
                    backoff = 0.5
                    break
                except Exception:
                    # Never skip a batch: it stays in the spool until it is stored.
                    log.exception("storing spooled spans failed; retrying in %.1f s", backoff)
                    if self._stop_event.wait(backoff):
                        return  # shutting down: the spool replays it at the next start
                    backoff = min(backoff * 2, 30.0)
