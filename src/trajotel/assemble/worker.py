"""The collector's assembly loop: traces touched by newly stored spans are (re)assembled.

A trace is assembled while it runs (at most once per ``refresh_s``, so a long agent run is not
rebuilt on every batch) and once more as ``complete`` when its root span is present and nothing
has arrived for ``idle_timeout_s``. A span arriving later reopens it: a newer version follows.
An assembly whose content equals the stored version writes nothing (re-sent spans). Each pass
handles up to ``max_batch`` traces with a fixed number of queries and inserts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from trajotel.assemble.assembler import assemble_trace, input_fingerprint
from trajotel.assemble.model import Trajectory
from trajotel.store import Store
from trajotel.store.trajectories import (
    TraceKey,
    current_versions,
    load_contents,
    load_trace_spans,
    traces_needing_assembly,
    write_trajectories,
)

log = logging.getLogger(__name__)

_CONTENT_COLUMNS = ("SystemInstructionsHash", "ToolDefinitionsHash")


def _worth_a_version(previous: tuple[int, str, str] | None, fingerprint: str, status: str) -> bool:
    """New content always; same content only to finish a running trajectory (never to reopen
    a finished one: that is what re-sent duplicate spans would do)."""
    if previous is None or previous[1] != fingerprint:
        return True
    return previous[2] == "running" and status != "running"


@dataclass
class _Pending:
    last_arrival: float  # monotonic time the newest span of the trace was stored
    last_assembled: float = 0.0


class AssemblyWorker(threading.Thread):
    def __init__(
        self,
        store: Store,
        *,
        idle_timeout_s: float,
        poll_interval_s: float,
        refresh_s: float = 1.0,
        max_batch: int = 500,
        ingest_busy: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__(name="trajotel-assembler", daemon=True)
        self.store = store
        self.idle_timeout_s = idle_timeout_s
        self.poll_interval_s = poll_interval_s
        self.refresh_s = refresh_s
        self.max_batch = max_batch
        # While ingest has a backlog, running trajectories are not rebuilt (only finished ones
        # are): storing acknowledged spans comes first.
        self.ingest_busy = ingest_busy or (lambda: False)
        self._pending: dict[TraceKey, _Pending] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop_event = threading.Event()
        self.assembled = 0

    def notify(self, traces: set[TraceKey], genai_traces: set[TraceKey] | None = None) -> None:
        """Spans of ``traces`` were stored. Traces with GenAI spans are queued; spans of other
        traces only count as activity for traces already queued (e.g. a framework's root span
        ending), so plain traffic is never read back for nothing."""
        genai = traces if genai_traces is None else genai_traces
        now = time.monotonic()
        with self._lock:
            for key in traces:
                entry = self._pending.get(key)
                if entry is not None:
                    entry.last_arrival = now
                elif key in genai:
                    self._pending[key] = _Pending(last_arrival=now)
        self._wake.set()

    def recover(self) -> int:
        """Re-queue traces whose assembly a previous (killed) collector did not finish."""
        keys = set(traces_needing_assembly(self.store))
        self.notify(keys)
        return len(keys)

    def stop(self) -> None:
        """Finish the pass in progress, make one last pass, and end the thread."""
        self._stop_event.set()
        self._wake.set()

    def pending_count(self) -> int:
        with self._lock:
            return len(self._pending)

    def run(self) -> None:
        while not self._stop_event.is_set():
            self._wake.wait(self.poll_interval_s)
            self._wake.clear()
            self._safe_tick()
        # Write what is known now; whatever is still open is re-queued at the next start.
        self._safe_tick()

    def _safe_tick(self) -> None:
        try:
            self.tick()
        except Exception:
            log.exception("trajectory assembly failed; the affected traces will be retried")
            self._stop_event.wait(1.0)

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        refresh = not self.ingest_busy()
        with self._lock:
            due: dict[TraceKey, bool] = {}
            for key, p in self._pending.items():
                idle = now - p.last_arrival >= self.idle_timeout_s
                # A running trace is rebuilt only when something new arrived since the last
                # build, and at most every refresh_s.
                changed = p.last_arrival > p.last_assembled
                if idle or (refresh and changed and now - p.last_assembled >= self.refresh_s):
                    due[key] = idle
                    p.last_assembled = now
                    if len(due) >= self.max_batch:
                        break
        if not due:
            return
        finished = self.assemble(due)
        with self._lock:
            for key in finished:
                entry = self._pending.get(key)
                # Only forget it if nothing new arrived while we were assembling.
                if entry is not None and now - entry.last_arrival >= self.idle_timeout_s:
                    del self._pending[key]
        if len(due) >= self.max_batch:
            self._wake.set()  # more are waiting: no pause before the next pass

    def assemble(self, due: dict[TraceKey, bool]) -> list[TraceKey]:
        """Assemble the given traces (value: idle long enough to be complete). Returns the keys
        that are done until new spans arrive."""
        keys = list(due)
        spans_by_trace = load_trace_spans(self.store, keys)
        versions = current_versions(self.store, keys)
        wanted = {
            (s["Tenant"], h)
            for spans in spans_by_trace.values()
            for s in spans
            for h in (*s["InputMessageHashes"], *s["OutputMessageHashes"], *(s[c] for c in _CONTENT_COLUMNS))
            if h
        }
        loaded = load_contents(self.store, wanted)
        by_tenant: dict[str, dict[str, str]] = {}
        for (tenant, digest), text in loaded.items():
            by_tenant.setdefault(tenant, {})[digest] = text
        writes: list[tuple[Trajectory, str]] = []
        finished = []
        for key in keys:
            spans = spans_by_trace.get(key, [])
            idle = due[key]
            complete = idle and any(not s["ParentSpanId"] for s in spans)
            fingerprint = input_fingerprint(spans)
            previous = versions.get(key)
            trajectory = None
            if spans and _worth_a_version(previous, fingerprint, "complete" if complete else "running"):
                trajectory = assemble_trace(spans, by_tenant.get(key[0], {}), complete=complete)
                if trajectory is not None:
                    trajectory.version = (previous[0] if previous else 0) + 1
                    trajectory.assembled_at_unix_nano = time.time_ns()
                    writes.append((trajectory, fingerprint))
            if idle or not spans:
                # Idle: done until a new span arrives (a trace whose root never came stays
                # "running"; a later span re-queues it).
                finished.append(key)
        write_trajectories(self.store, writes, set(loaded))
        self.assembled += len(writes)
        return finished
