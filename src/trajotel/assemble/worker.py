"""The collector's assembly loop: traces touched by newly stored spans are (re)assembled.

A trace is assembled while it runs (at most once per ``refresh_s``, so a long agent run is not
rebuilt on every batch) and once more as ``complete``: an agent run (its ``invoke_agent`` root
span has arrived: the run is over) once nothing arrived for ``agent_root_grace_s``, any other
trace with its root span present (e.g. one model call of a flat loop, which the next call may
continue) once nothing arrived for ``idle_timeout_s``. Agent runs whose root arrived go first.
Finishing comes before refreshing: while traces are settling, or while passes take more than
30 % of the assembler's time (it is becoming the bottleneck), running versions are rebuilt only
when stale (``STALE_REFRESHES`` refresh periods). A trace whose root never arrives (its top span's parent is
missing: an orphan) stays running until nothing has arrived for ``orphan_timeout_s``, then is
complete with what it has. A span arriving later reopens it: a newer version follows.
An assembly whose content equals the stored version writes nothing (re-sent spans). Each pass
handles up to ``max_batch`` traces with a fixed number of queries and inserts. The spans and
message bodies the writer just stored come with its notification (``cache``): a pass reads back
from the store only traces it has not seen whole.

A sub-agent (an ``invoke_agent`` span inside another agent's) is a child trajectory of its
own (``subagents``). A trajectory may span several traces (``linking``: conversation ids,
message-history threading of flat model-call traces). A pass regroups the due traces together
with the traces their keys link to and the other members of every trajectory involved,
assembles each group as one trajectory (its id: the earliest trace's), and retires with a
tombstone version any trajectory id that a merge absorbed. A trajectory is complete when all its
traces are.

A flat loop's traces go quiet one by one. A pass that finishes one of them also links the queued
traces it has never loaded (their keys are not stored yet), so that the calls already received
join the trajectory, which stays running; and a trace whose trajectory still has a member that
is not quiet waits for it, so the loop is finished once, in the pass of its last call.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from trajotel.assemble.assembler import assemble_spans, input_fingerprint
from trajotel.assemble.cache import ContentCache, SpanCache
from trajotel.assemble.linking import MessageIdentities, TraceLinks, group_traces, link_trace
from trajotel.assemble.model import Trajectory
from trajotel.assemble.subagents import split_subagents
from trajotel.store import Store
from trajotel.store.trajectories import (
    StoredVersion,
    TraceKey,
    current_versions,
    find_linked_traces,
    traces_needing_assembly,
    trajectory_memberships,
    trajectory_trace_ids,
    write_links,
    write_memberships,
    write_tombstones,
    write_trajectories,
)

log = logging.getLogger(__name__)

_CONTENT_COLUMNS = ("SystemInstructionsHash", "ToolDefinitionsHash", "ToolCallResultHash")
SpanRows = dict[TraceKey, list[dict[str, Any]]]
_WRITTEN_LINKS_CAPACITY = 100_000
# While some traces are waiting to be finished, or while passes took more than BUSY_SHARE of the
# last BUSY_WINDOW_S (the assembler is the bottleneck), a running trajectory is rebuilt only once
# it has not been (or, new, has waited) for this many refresh periods: finishing comes first.
STALE_REFRESHES = 5
BUSY_WINDOW_S = 5.0
# 0.3 rather than 0.5: at 0.5 a loaded collector (passes 55-80 % of the time) went in and out of
# "behind", and each way out gave every new agent run a running version it finished soon after.
BUSY_SHARE = 0.3
HANDOFF_MAX_AGE_S = 600.0


def _worth_a_version(previous: StoredVersion | None, fingerprint: str, status: str) -> bool:
    """New content always; same content only to finish a running trajectory (never to reopen
    a finished one: that is what re-sent duplicate spans would do)."""
    if previous is None or previous.deleted or previous.fingerprint != fingerprint:
        return True
    return previous.status == "running" and status != "running"


class _Candidates:
    """The traces one pass regroups: the due ones, the traces their keys link to, and every
    other member of the trajectories any of them belonged to."""

    def __init__(self, store: Store, span_cache: SpanCache, content_cache: ContentCache) -> None:
        self.store = store
        self.span_cache = span_cache
        self.content_cache = content_cache
        self.spans: SpanRows = {}
        self.contents: dict[str, dict[str, str]] = {}
        self.known_hashes: set[tuple[str, str]] = set()
        self.links: dict[TraceKey, TraceLinks] = {}
        self.memberships: dict[TraceKey, str] = {}
        self.held_elsewhere: set[TraceKey] = set()  # of ``expand``'s ``also_look_up``

    def add(self, keys: set[TraceKey]) -> None:
        """Load the spans, content and grouping keys of ``keys``."""
        loaded = self.span_cache.load(self.store, keys - self.spans.keys())
        wanted = {
            (s["Tenant"], h)
            for spans in loaded.values()
            for s in spans
            for h in (*s["InputMessageHashes"], *s["OutputMessageHashes"], *(s[c] for c in _CONTENT_COLUMNS))
            if h
        }
        bodies = self.content_cache.load(self.store, wanted - self.known_hashes)
        self.known_hashes.update(bodies)
        for (tenant, digest), text in bodies.items():
            self.contents.setdefault(tenant, {})[digest] = text
        identities = {t: self.content_cache.identities(t, c) for t, c in self.contents.items()}
        for key, spans in loaded.items():
            if spans:
                self.spans[key] = spans
                self.links[key] = link_trace(key, spans, identities.get(key[0]) or MessageIdentities({}))

    def expand(self, also_look_up: Iterable[TraceKey] = ()) -> set[TraceKey]:
        """Add the linked traces and the other members of the trajectories involved; return
        the ids of those trajectories as they were before this pass. ``also_look_up``: traces
        whose memberships to read in the same query, without adding them."""
        probes = {(k[0], kind, key) for k, link in self.links.items() for kind, key in link.probes()}
        linked = find_linked_traces(self.store, probes) | set(self.spans)
        found = trajectory_memberships(self.store, linked.union(also_look_up))
        self.memberships.update((k, tid) for k, tid in found.items() if k in linked)
        self.held_elsewhere = found.keys() - linked
        previous = {(k[0], self.memberships.get(k, k[1])) for k in linked}
        members = set(linked)
        for (tenant, trajectory_id), traces in trajectory_trace_ids(self.store, previous).items():
            for trace in traces:
                members.add((tenant, trace))
                self.memberships.setdefault((tenant, trace), trajectory_id)
        self.add(members)
        return previous


@dataclass
class _Pending:
    last_arrival: float  # monotonic time the newest span of the trace was stored
    last_assembled: float = 0.0
    agent_root: bool = False  # its invoke_agent root span has arrived
    queued: float = 0.0  # monotonic time it was queued
    has_root: bool = False  # its root span (of any kind) has arrived
    seen: bool = False  # a pass of this worker loaded it (its grouping keys are stored)
    trajectory: TraceKey | None = None  # (tenant, id) of the trajectory a pass put it in last
    built_at: float = -1.0  # monotonic time that pass started

    @property
    def last_version(self) -> float:
        """When its last version was built (or, none yet, when it was queued)."""
        return max(self.last_assembled, self.queued)


class AssemblyWorker(threading.Thread):
    def __init__(
        self,
        store: Store,
        *,
        idle_timeout_s: float,
        poll_interval_s: float,
        orphan_timeout_s: float = 60.0,
        agent_root_grace_s: float = 0.2,
        refresh_s: float = 1.0,
        max_batch: int = 500,
        ingest_busy: Callable[[], bool] | None = None,
        span_cache_bytes: int = 64 * 2**20,
        content_cache_bytes: int = 64 * 2**20,
        completed_log_size: int = 10_000,
        handoff_size: int = 0,
    ) -> None:
        super().__init__(name="trajotel-assembler", daemon=True)
        self.store = store
        self.idle_timeout_s = idle_timeout_s
        self.orphan_timeout_s = max(orphan_timeout_s, idle_timeout_s)
        self.agent_root_grace_s = min(agent_root_grace_s, idle_timeout_s)
        self.poll_interval_s = poll_interval_s
        self.refresh_s = refresh_s
        self.max_batch = max_batch
        # While ingest has a backlog, running trajectories are not rebuilt (only finished ones
        # are): storing acknowledged spans comes first.
        self.ingest_busy = ingest_busy or (lambda: False)
        self._pending: dict[TraceKey, _Pending] = {}
        # What the writer stored, so passes read from the store only what they have not seen.
        self.span_cache = SpanCache(span_cache_bytes)
        self.content_cache = ContentCache(content_cache_bytes)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop_event = threading.Event()
        self.assembled = 0
        self.versions_running = 0  # of ``assembled``: versions written as running
        self.passes = 0
        self.pass_seconds = 0.0  # wall time spent in passes
        self._recent_passes: deque[tuple[float, float]] = deque()  # (start, end), monotonic
        # (wall time its insert returned, tenant, trajectory id, version, turns) of the latest
        # complete versions: when each became queryable, exactly (benchmarks; /v1/status).
        self._completed: deque[tuple[float, str, str, int, int]] = deque(maxlen=max(0, completed_log_size))
        self._written_links: OrderedDict[TraceKey, int] = OrderedDict()
        # Finished versions written, for the enrichment worker (take_complete), so that it
        # need not read them back: (when handed off, trajectory), oldest first, at most
        # handoff_size. A running version or a tombstone drops its trajectory's.
        self.handoff_size = max(0, handoff_size)
        self._handoff: OrderedDict[TraceKey, tuple[float, Trajectory]] = OrderedDict()
        # When the earliest waiting trace will have been quiet long enough: the loop wakes then
        # rather than at the next poll, so poll_interval_s adds nothing to a run's latency.
        self._next_settle = float("inf")
        # Set while the loop waits with nothing due: what gives way to assembly (the enrichment
        # worker) goes then. An event, not polling: pollers would take the GIL from passes.
        self._idle = threading.Event()

    def wait_idle(self, timeout: float) -> bool:
        """Block until the loop waits with nothing due (no pass under way, no queued trace quiet
        long enough to be finished), at most ``timeout`` seconds; whether it does."""
        return self._idle.wait(timeout)

    def notify(
        self,
        traces: set[TraceKey],
        genai_traces: set[TraceKey] | None = None,
        agent_roots: set[TraceKey] | None = None,
        *,
        root_traces: set[TraceKey] | None = None,
        spans: bytes = b"",
        contents: Mapping[tuple[str, str], bytes] | None = None,
    ) -> None:
        """Spans of ``traces`` were stored. Traces with GenAI spans are queued; spans of other
        traces only count as activity for traces already queued (e.g. a framework's root span
        ending), so plain traffic is never read back for nothing. ``agent_roots``: traces whose
        ``invoke_agent`` root span is among them; ``root_traces``: traces whose root span (of any
        kind) is among them. ``spans`` (the JSONEachRow body inserted into
        ``spans``) and ``contents`` ((tenant, hash) -> encoded ``message_contents`` row, stored
        now or before) feed the caches; without them the pass reads the store."""
        genai = traces if genai_traces is None else genai_traces
        roots = agent_roots or set()
        # The caches first: a pass that sees the traces queued finds their new rows cached.
        try:
            if spans:
                with self._lock:
                    queued = {key for key in traces if key in self._pending or key in genai or key in roots}
                self.span_cache.add_inserted(spans, queued.__contains__)
            if contents:
                self.content_cache.add_inserted(contents)
        except Exception:  # an optimisation only: it must never fail the writer that calls this
            log.exception("caching stored spans failed; assembly reads them from the store")
        now = time.monotonic()
        with self._lock:
            for key in traces:
                entry = self._pending.get(key)
                if entry is not None:
                    entry.last_arrival = now
                elif key in genai or key in roots:
                    entry = self._pending[key] = _Pending(last_arrival=now, queued=now)
                if entry is not None and key in roots:
                    entry.agent_root = True
                if entry is not None and root_traces and key in root_traces:
                    entry.has_root = True
        self._wake.set()

    def _quiet_needed(self, entry: _Pending) -> float:
        return self.agent_root_grace_s if entry.agent_root else self.idle_timeout_s

    def recover(self) -> int:
        """Re-queue traces whose assembly a previous (killed) collector did not finish."""
        keys = set(traces_needing_assembly(self.store))
        self.notify(keys)
        with self._lock:
            for key in keys:
                self._pending[key].seen = True  # stored before: found through the store
        return len(keys)

    def stop(self) -> None:
        """Finish the pass in progress, make one last pass, and end the thread."""
        self._stop_event.set()
        self._wake.set()

    def pending_count(self) -> int:
        with self._lock:
            return len(self._pending)

    def stats(self) -> dict[str, int | float]:
        """Passes made and what the caches saved (for /v1/status and benchmarks)."""
        spans, contents = self.span_cache, self.content_cache
        return {
            "passes": self.passes,
            "pass_seconds": round(self.pass_seconds, 3),
            "span_cache_hits": spans.hits,
            "span_cache_misses": spans.misses,
            "span_cache_bytes": spans.bytes,
            "content_cache_hits": contents.hits,
            "content_cache_misses": contents.misses,
            "content_cache_bytes": contents.bytes,
            "versions": self.assembled,
            "versions_running": self.versions_running,
        }

    def take_complete(self, keys: Iterable[TraceKey]) -> dict[TraceKey, Trajectory]:
        """The finished trajectories among ``keys`` (tenant, id) that were assembled last by this
        worker and not taken yet, each as written (without feedback, which lives elsewhere);
        they are taken: a second call does not return them."""
        with self._lock:
            return {key: self._handoff.pop(key)[1] for key in keys if key in self._handoff}

    def _hand_off(self, written: Iterable[Trajectory], retired: Iterable[TraceKey]) -> None:
        if not self.handoff_size:
            return
        now = time.monotonic()
        with self._lock:
            for key in retired:
                self._handoff.pop(key, None)
            # Entries nobody took for HANDOFF_MAX_AGE_S (e.g. deleted since) make room first.
            while self._handoff and now - next(iter(self._handoff.values()))[0] > HANDOFF_MAX_AGE_S:
                self._handoff.popitem(last=False)
            for trajectory in written:
                key = (trajectory.tenant, trajectory.id)
                had = self._handoff.pop(key, None)
                if trajectory.status == "running":
                    continue
                # Enrichment takes the oldest first: when it lags, the oldest are what it asks
                # for next, so a full handoff turns away newcomers (they are read back later).
                if had is not None or len(self._handoff) < self.handoff_size:
                    self._handoff[key] = (now, trajectory)

    def completed_since(self, since: float) -> list[dict[str, Any]]:
        """The complete versions whose insert returned after ``since`` (wall time, seconds), of
        the last ``completed_log_size`` written, oldest first."""
        with self._lock:
            latest = [entry for entry in self._completed if entry[0] > since]
        keys = ("written_at", "tenant", "trajectory_id", "version", "turns")
        return [dict(zip(keys, entry, strict=True)) for entry in latest]

    def run(self) -> None:
        self.store.prefer_current_thread()  # readers wait for assembly's queries, not the reverse
        while not self._stop_event.is_set():
            self._idle.set()
            self._wake.wait(max(0.0, min(self.poll_interval_s, self._next_settle - time.monotonic())))
            self._idle.clear()
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

    def behind(self) -> bool:
        """Whether passes took more than BUSY_SHARE of the last BUSY_WINDOW_S."""
        return self.busy_share() > BUSY_SHARE

    def busy_share(self) -> float:
        """The share of the last BUSY_WINDOW_S (real time) spent in passes."""
        horizon = time.monotonic() - BUSY_WINDOW_S
        while self._recent_passes and self._recent_passes[0][1] <= horizon:
            self._recent_passes.popleft()
        return sum(end - max(start, horizon) for start, end in self._recent_passes) / BUSY_WINDOW_S

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        refresh = not self.ingest_busy()
        behind = self.behind()
        with self._lock:
            due: dict[TraceKey, bool] = {}
            expired: set[TraceKey] = set()
            settling: list[TraceKey] = []  # quiet long enough: to assemble as complete
            refreshing: list[TraceKey] = []  # running, changed, not rebuilt for refresh_s
            self._next_settle = float("inf")
            for key, p in self._pending.items():
                quiet = now - p.last_arrival
                orphan_expired = quiet >= self.orphan_timeout_s
                # Each quiet state (idle, then orphan-expired) is assembled once; a running trace
                # is rebuilt only when something new arrived, and at most every refresh_s.
                state_since = p.last_arrival + (
                    self.orphan_timeout_s if orphan_expired else self._quiet_needed(p)
                )
                if p.last_assembled < state_since and quiet < self._quiet_needed(p):
                    self._next_settle = min(self._next_settle, state_since)
                if quiet >= self._quiet_needed(p) and p.last_assembled < state_since:
                    settling.append(key)
                elif (
                    refresh and p.last_arrival > p.last_assembled and now - p.last_assembled >= self.refresh_s
                ):
                    refreshing.append(key)
            settling = self._finishing_together(settling)
            # Finishing comes first (agent runs before the rest): that is what readers wait
            # for. A pass that finishes some refreshes only the running trajectories left stale
            # for STALE_REFRESHES refresh periods; while the assembler is behind, new ones too
            # wait that long for their first version.
            settling.sort(key=lambda key: not self._pending[key].agent_root)
            held: list[TraceKey] = []
            if settling or behind:
                stale = now - STALE_REFRESHES * self.refresh_s

                def fresh(key: TraceKey) -> bool:
                    entry = self._pending[key]
                    return (entry.last_version if behind else entry.last_assembled) > stale

                held = [k for k in refreshing if fresh(k)]
                refreshing = [k for k in refreshing if not fresh(k)]
            for key in (settling + refreshing)[: self.max_batch]:
                entry = self._pending[key]
                due[key] = now - entry.last_arrival >= self._quiet_needed(entry)
                if now - entry.last_arrival >= self.orphan_timeout_s:
                    expired.add(key)
                entry.last_assembled = now
            more = len(settling) + len(refreshing) > self.max_batch or bool(held)
            context = self._unseen_continuations(due)
        if not due:
            return
        started = time.monotonic()
        finished = self.assemble(due, expired, context)
        ended = time.monotonic()
        self.passes += 1
        self.pass_seconds += ended - started
        self._recent_passes.append((started, ended))
        with self._lock:
            for key in finished:
                entry = self._pending.get(key)
                # Only forget it if nothing new arrived while we were assembling.
                if entry is not None and now - entry.last_arrival >= self._quiet_needed(entry):
                    del self._pending[key]
        if more:
            self._wake.set()  # more are waiting: no pause before the next pass

    def _finishing_together(self, settling: list[TraceKey]) -> list[TraceKey]:
        """The traces of a flat loop go quiet one by one. Finishing one while another trace of
        its trajectory is still arriving would only rebuild the version that already holds it:
        it waits, and they all finish in the pass of the last one. Called under ``_lock``."""
        quiet = set(settling)
        unsettled = {p.trajectory for key, p in self._pending.items() if p.trajectory and key not in quiet}
        if not unsettled:
            return settling
        return [
            key
            for key in settling
            if (p := self._pending[key]).trajectory not in unsettled or p.built_at < p.last_arrival
        ]

    def _unseen_continuations(self, due: Mapping[TraceKey, bool]) -> set[TraceKey]:
        """Queued traces no pass has loaded yet whose root span, not an agent's, has arrived:
        each may continue a flat loop, but its grouping keys are not stored yet, so a pass that
        finishes that loop would not find it. Only when the pass finishes a trace that can be
        threaded at all. Called under ``_lock``."""
        if not any(idle and not self._pending[key].agent_root for key, idle in due.items()):
            return set()
        unseen = (
            key
            for key, p in self._pending.items()
            if p.has_root and not p.agent_root and not p.seen and key not in due
        )
        return set(itertools.islice(unseen, self.max_batch))

    def assemble(
        self,
        due: dict[TraceKey, bool],
        orphans_expired: set[TraceKey] | None = None,
        context: set[TraceKey] | None = None,
    ) -> list[TraceKey]:
        """Assemble the trajectories of the given traces (value: idle long enough to be
        complete; ``orphans_expired``: root-less traces quiet for ``orphan_timeout_s``, complete
        without their root). ``context``: queued traces never loaded before (``seen``), which
        join only a trajectory this pass finishes; the others just get their grouping keys
        stored. Returns the keys that are done until new spans arrive."""
        started = time.monotonic()
        orphans_expired = orphans_expired or set()
        candidates = _Candidates(self.store, self.span_cache, self.content_cache)
        candidates.add(set(due))
        previous = candidates.expand(also_look_up=context or set())
        # A trace finished (dequeued) before and queued again (e.g. its late root) belongs to a
        # trajectory already: it goes the usual way, which regroups that trajectory too.
        context = (context or set()) - candidates.spans.keys() - candidates.held_elsewhere
        unseen = self._join_finishing(candidates, due, context)
        grouping = group_traces(candidates.links.values())
        components: dict[TraceKey, list[TraceKey]] = {}
        for trace, trajectory_id in sorted(grouping.items()):
            components.setdefault((trace[0], trajectory_id), []).append(trace)
        # Each trajectory, then each sub-agent inside it as a child trajectory.
        parts: dict[TraceKey, tuple[list[TraceKey], str | None, list[dict[str, Any]]]] = {}
        for key, members in components.items():
            spans = [s for m in members for s in candidates.spans[m]]
            for tid, parent, group in split_subagents(spans, key[1]):
                parts[(key[0], tid)] = (members, parent, group)
        versions = current_versions(self.store, set(parts) | previous)
        with self._lock:
            pending = set(self._pending)

        def finished(trace: TraceKey) -> bool:
            if trace not in due:  # no longer queued: it was finished before (root or orphan timeout)
                return trace not in pending
            return due[trace] and (trace in orphans_expired or has_root(trace))

        def has_root(trace: TraceKey) -> bool:
            return any(not s["ParentSpanId"] for s in candidates.spans[trace])

        now_ns = time.time_ns() // 1000 * 1000  # as stored (microseconds): handed-off copies equal it
        writes: list[tuple[Trajectory, str]] = []
        for key, (members, parent, spans) in parts.items():
            complete = all(finished(m) for m in members)
            fingerprint = input_fingerprint(spans)
            stored = versions.get(key)
            if not _worth_a_version(stored, fingerprint, "complete" if complete else "running"):
                continue
            contents = candidates.contents.get(key[0], {})
            trajectory = assemble_spans(spans, contents, complete=complete, trajectory_id=key[1])
            if trajectory is not None:
                trajectory.parent_trajectory_id = parent
                trajectory.version = (stored.version if stored else 0) + 1
                trajectory.assembled_at_unix_nano = now_ns
                writes.append((trajectory, fingerprint))
        # Membership first and the new versions last: a crash in between leaves traces pointing
        # at a trajectory that is missing, which the start-up recovery re-queues.
        moved = {t: tid for t, tid in grouping.items() if candidates.memberships.get(t) != tid}
        write_memberships(self.store, moved, now_ns)
        retired = [k for k in previous if k not in components and k in versions and not versions[k].deleted]
        write_tombstones(self.store, retired, now_ns)
        write_trajectories(self.store, writes, candidates.known_hashes)
        self._hand_off((t for t, _ in writes), retired)
        if self._completed.maxlen:
            written = time.time()
            done = [
                (written, t.tenant, t.id, t.version, len(t.turns))
                for t, _ in writes
                if t.status == "complete"
            ]
            with self._lock:
                self._completed.extend(done)
        self._write_links([*candidates.links.values(), *unseen])
        with self._lock:
            for key in (*candidates.links, *(link.key for link in unseen), *candidates.held_elsewhere):
                entry = self._pending.get(key)
                if entry is not None:
                    entry.seen = True
            for key, trajectory_id in grouping.items():
                entry = self._pending.get(key)
                if entry is not None:
                    entry.trajectory, entry.built_at = (key[0], trajectory_id), started
        self.assembled += len(writes)
        self.versions_running += sum(1 for t, _ in writes if t.status == "running")
        # Idle with its root (or an expired orphan): done until a new span arrives. An idle
        # orphan stays queued until its orphan timeout.
        return [
            key
            for key, idle in due.items()
            if key not in candidates.spans or (idle and (key in orphans_expired or has_root(key)))
        ]

    def _join_finishing(
        self, candidates: _Candidates, due: Mapping[TraceKey, bool], unseen: set[TraceKey]
    ) -> list[TraceLinks]:
        """Add to ``candidates`` the ``unseen`` traces that belong to a trajectory being
        finished; return the links of the others (to store, so later passes find them)."""
        if not unseen:
            return []
        candidates.add(unseen)
        grouping = group_traces(candidates.links.values())
        finishing = {(key[0], grouping[key]) for key, idle in due.items() if idle and key in grouping}
        left = [key for key in unseen if key in candidates.links and (key[0], grouping[key]) not in finishing]
        for key in left:
            candidates.spans.pop(key, None)
        return [candidates.links.pop(key) for key in left]

    def _write_links(self, links: Iterable[TraceLinks]) -> None:
        """Index rows of traces whose keys are new or changed since this worker wrote them."""
        rows = []
        for link in links:
            index = link.index_rows()
            digest = hash(tuple(index))
            if self._written_links.get(link.key) == digest:
                continue
            self._written_links[link.key] = digest
            self._written_links.move_to_end(link.key)
            rows.extend((link.key[0], kind, key, link.key[1]) for kind, key in index)
        while len(self._written_links) > _WRITTEN_LINKS_CAPACITY:
            self._written_links.popitem(last=False)
        if rows:
            write_links(self.store, rows)
