"""The collector's assembly loop: traces touched by newly stored spans are (re)assembled.

A trace is assembled while it runs (at most once per ``refresh_s``, so a long agent run is not
rebuilt on every batch) and once more as ``complete`` when its root span is present and nothing
has arrived for ``idle_timeout_s``. A span arriving later reopens it: a newer version follows.
An assembly whose result is identical to the stored version writes nothing (re-sent spans).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from trajotel.assemble.assembler import assemble_trace
from trajotel.store import Store
from trajotel.store.trajectories import (
    TraceKey,
    current_versions,
    load_contents,
    load_trace_spans,
    traces_needing_assembly,
    trajectory_fingerprint,
    write_trajectory,
)

log = logging.getLogger(__name__)


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
        self, store: Store, *, idle_timeout_s: float, poll_interval_s: float, refresh_s: float = 1.0
    ) -> None:
        super().__init__(name="trajotel-assembler", daemon=True)
        self.store = store
        self.idle_timeout_s = idle_timeout_s
        self.poll_interval_s = poll_interval_s
        self.refresh_s = refresh_s
        self._pending: dict[TraceKey, _Pending] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop_event = threading.Event()
        self.assembled = 0

    # called by the store writer after each stored batch
    def notify(self, keys: set[TraceKey]) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                entry = self._pending.get(key)
                if entry is None:
                    self._pending[key] = _Pending(last_arrival=now)
                else:
                    entry.last_arrival = now
        self._wake.set()

    def recover(self) -> int:
        """Re-queue traces whose assembly a previous (killed) collector did not finish."""
        keys = traces_needing_assembly(self.store)
        self.notify(set(keys))
        return len(keys)

    def stop(self) -> None:
        self._stop_event.set()
        self._wake.set()

    def pending_count(self) -> int:
        with self._lock:
            return len(self._pending)

    def run(self) -> None:
        while not self._stop_event.is_set():
            self._wake.wait(self.poll_interval_s)
            self._wake.clear()
            try:
                self.tick()
            except Exception:
                log.exception("trajectory assembly failed; the affected traces will be retried")
                self._stop_event.wait(1.0)

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            due = {
                key: (now - p.last_arrival >= self.idle_timeout_s)
                for key, p in self._pending.items()
                if now - p.last_arrival >= self.idle_timeout_s or now - p.last_assembled >= self.refresh_s
            }
            for key in due:
                self._pending[key].last_assembled = now
        if not due:
            return
        finished = self.assemble(due)
        with self._lock:
            for key in finished:
                entry = self._pending.get(key)
                # Only forget it if nothing new arrived while we were assembling.
                if entry is not None and now - entry.last_arrival >= self.idle_timeout_s:
                    del self._pending[key]

    def assemble(self, due: dict[TraceKey, bool]) -> list[TraceKey]:
        """Assemble the given traces (value: idle long enough to be complete). Returns the keys
        that reached a final state."""
        keys = list(due)
        spans_by_trace = load_trace_spans(self.store, keys)
        versions = current_versions(self.store, keys)
        finished = []
        for key in keys:
            spans = spans_by_trace.get(key, [])
            if not spans:
                finished.append(key)
                continue
            hashes = {
                h
                for s in spans
                for h in (
                    *s["InputMessageHashes"],
                    *s["OutputMessageHashes"],
                    s["SystemInstructionsHash"],
                    s["ToolDefinitionsHash"],
                )
                if h
            }
            contents = load_contents(self.store, key[0], hashes)
            root_present = any(not s["ParentSpanId"] for s in spans)
            complete = due[key] and root_present
            trajectory = assemble_trace(spans, contents, complete=complete)
            if trajectory is None:
                finished.append(key)
                continue
            fingerprint = trajectory_fingerprint(trajectory)
            previous = versions.get(key)
            if _worth_a_version(previous, fingerprint, trajectory.status):
                trajectory.version = (previous[0] if previous else 0) + 1
                trajectory.assembled_at_unix_nano = time.time_ns()
                write_trajectory(self.store, trajectory, fingerprint, hashes)
                self.assembled += 1
            if due[key]:
                # Idle: done until a new span arrives (a trace whose root never came stays
                # "running"; a later span re-queues it).
                finished.append(key)
        return finished
