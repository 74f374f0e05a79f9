"""What the store writer just stored, kept in memory for the assembler (issue 4, item 8).

Without it, every pass read each trace it assembles back from the store, again on every rebuild,
together with the message bodies its spans reference and every other trace of its trajectory:
random reads across ``spans`` and ``message_contents`` that grow with the store.

Spans: per trace, the rows ``load_trace_spans`` gives, taken from the records the writer inserted
(``span_row_from_insert``) and from what passes read. A pass uses a cached trace only when the
store holds exactly the span ids the cache holds (``stored_span_ids``: one query of two narrow
columns per pass). So a trace with spans stored before a restart, by another writer, before the
cache evicted it, or purged since, is read from the store as before: the cache is an
optimisation and never changes what a pass builds. A trace whose content arrived as log events
is always read from the store (the store merges that content in).

Contents: message bodies by (tenant, hash), from the writer's batches and from what passes read.
They are content-addressed (the hash is of the body), so a cached body is right by construction;
the message identities linking derives from them are kept with them.

Both are bounded by an approximate size in bytes (``assemble.span_cache_bytes``,
``assemble.content_cache_bytes``; 0 turns a cache off) and evict what was used least recently.
"""

from __future__ import annotations

import json
import marshal
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from trajotel.assemble.linking import MessageIdentities, message_identity
from trajotel.store import Store
from trajotel.store.trajectories import (
    TraceKey,
    load_contents,
    load_trace_spans,
    span_row_from_insert,
    stored_span_ids,
)

SpanRow = dict[str, Any]
# Approximate memory of a cache entry beyond its marshalled row / body text (object headers,
# dictionary slots, the span id; a body's key and identity), measured with tracemalloc.
_ROW_OVERHEAD = 150
_TRACE_OVERHEAD = 300
_CONTENT_OVERHEAD = 350


class SpanCache:
    """Span rows per trace, least recently used evicted first once over ``max_bytes``.

    Rows are kept marshalled (a quarter of their size as objects, and nothing for the garbage
    collector to walk); each ``load`` gives fresh rows, as a store read does."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._traces: OrderedDict[TraceKey, dict[str, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        # Counters for benchmarks and tests: traces a pass took from the cache / read.
        self.hits = 0
        self.misses = 0

    def __contains__(self, key: TraceKey) -> bool:
        return key in self._traces

    def __len__(self) -> int:
        return len(self._traces)

    def traces(self) -> set[TraceKey]:
        with self._lock:
            return set(self._traces)

    def rows_of(self, key: TraceKey) -> dict[str, SpanRow]:
        """The cached rows of a trace by span id, unchecked (tests, diagnostics)."""
        with self._lock:
            blobs = dict(self._traces.get(key, {}))
        return {span_id: marshal.loads(blob) for span_id, blob in blobs.items()}

    def add_inserted(self, body: bytes, wanted: Callable[[TraceKey], bool]) -> None:
        """Rows of a JSONEachRow ``spans`` body the writer stored, for the traces ``wanted``
        accepts (or already cached). A record the store would not give back as sent drops its
        trace from the cache: it is read from the store."""
        if self.max_bytes <= 0 or not body:
            return
        parsed: list[tuple[TraceKey, str, bytes | None]] = []
        for line in body.split(b"\n"):
            record = json.loads(line)
            key = (record.get("Tenant", ""), record.get("TraceId", ""))
            if key in self._traces or wanted(key):
                row = span_row_from_insert(record)
                parsed.append((key, row["SpanId"] if row else "", _marshalled(row)))
        self._keep(parsed)

    def load(self, store: Store, keys: Iterable[TraceKey]) -> dict[TraceKey, list[SpanRow]]:
        """What ``load_trace_spans(store, keys)`` gives: cached traces the store confirms, the
        rest read (and cached). Traces with no spans are left out."""
        keys = set(keys)
        if not keys:
            return {}
        with self._lock:
            cached = {k: set(self._traces[k]) for k in keys if k in self._traces}
        out: dict[TraceKey, list[SpanRow]] = {}
        if cached:
            stored = stored_span_ids(store, cached)
            with self._lock:
                blobs = {}
                for key, ids in cached.items():
                    spans = self._traces.get(key)
                    # Confirmed, and not evicted meanwhile.
                    if stored.get(key) == ids and spans is not None and ids <= spans.keys():
                        self._traces.move_to_end(key)
                        blobs[key] = [spans[span_id] for span_id in ids]
            for key, found in blobs.items():
                rows = [marshal.loads(blob) for blob in found]
                # The table's order within a trace (ORDER BY ..., Timestamp, SpanId).
                out[key] = sorted(rows, key=lambda r: (r["StartNs"], r["SpanId"]))
        self.hits += len(out)
        missing = keys - out.keys()
        self.misses += len(missing)
        loaded = load_trace_spans(store, missing)
        out.update(loaded)
        if self.max_bytes > 0 and loaded:
            # Rows carrying log-event content may be among them (events can arrive between
            # the check and the read): the next check sends such a trace to the store again.
            self._keep(
                [(key, row["SpanId"], _marshalled(row)) for key, rows in loaded.items() for row in rows]
            )
        return out

    def _keep(self, rows: Iterable[tuple[TraceKey, str, bytes | None]]) -> None:
        """Cache (trace, span id, marshalled row)s; a row with no exact form (None) drops its trace."""
        with self._lock:
            for key, span_id, blob in rows:
                if blob is None:
                    self._drop(key)
                else:
                    self._put(key, span_id, blob)
            self._evict()

    def _put(self, key: TraceKey, span_id: str, blob: bytes) -> None:
        spans = self._traces.get(key)
        if spans is None:
            spans = self._traces[key] = {}
            self.bytes += _TRACE_OVERHEAD
        else:
            self._traces.move_to_end(key)
        if span_id not in spans:
            spans[span_id] = blob
            self.bytes += len(blob) + _ROW_OVERHEAD

    def _drop(self, key: TraceKey) -> None:
        spans = self._traces.pop(key, None)
        if spans is not None:
            self.bytes -= _TRACE_OVERHEAD + sum(len(blob) + _ROW_OVERHEAD for blob in spans.values())

    def _evict(self) -> None:
        while self.bytes > self.max_bytes and self._traces:
            self._drop(next(iter(self._traces)))


def _marshalled(row: SpanRow | None) -> bytes | None:
    """The row as bytes, or None when it holds something marshal cannot keep exactly."""
    if row is None:
        return None
    try:
        return marshal.dumps(row)
    except ValueError:
        return None


class ContentCache:
    """Message bodies by (tenant, hash) and the identities linking derives from them; least
    recently used evicted first once over ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._bodies: OrderedDict[tuple[str, str], tuple[str, int]] = OrderedDict()
        self._identities: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._bodies)

    def hashes(self) -> set[tuple[str, str]]:
        with self._lock:
            return set(self._bodies)

    def body_of(self, key: tuple[str, str]) -> str | None:
        found = self._bodies.get(key)
        return None if found is None else found[0]

    def add_inserted(self, rows: Mapping[tuple[str, str], bytes]) -> None:
        """Bodies the writer stored (or had stored before): (tenant, hash) -> the encoded
        ``message_contents`` row."""
        if self.max_bytes <= 0 or not rows:
            return
        fresh = [(key, row) for key, row in rows.items() if key not in self._bodies]
        parsed = [(key, json.loads(row).get("Content", "")) for key, row in fresh]
        with self._lock:
            for key, text in parsed:
                self._put(key, text)
            self._evict()

    def load(self, store: Store, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """What ``load_contents(store, keys)`` gives: cached bodies, the rest read (and cached)."""
        out: dict[tuple[str, str], str] = {}
        missing = []
        with self._lock:
            for key in keys:
                found = self._bodies.get(key)
                if found is None:
                    missing.append(key)
                else:
                    self._bodies.move_to_end(key)
                    out[key] = found[0]
        self.hits += len(out)
        self.misses += len(missing)
        loaded = load_contents(store, missing)
        out.update(loaded)
        if self.max_bytes > 0 and loaded:
            with self._lock:
                for key, text in loaded.items():
                    self._put(key, text)
                self._evict()
        return out

    def identities(self, tenant: str, contents: Mapping[str, str]) -> MessageIdentities:
        """``MessageIdentities`` over ``contents`` (one tenant's bodies by hash) that remembers
        each identity across passes."""
        return _RememberedIdentities(tenant, contents, self)

    def _identity(self, tenant: str, digest: str, text: str | None) -> str:
        key = (tenant, digest)
        found = self._identities.get(key)
        if found is None:
            if text is None:  # no body: the hash stands for itself (not remembered)
                return digest
            found = message_identity(text)
            with self._lock:
                if key in self._bodies:  # forgotten with its body
                    self._identities[key] = found
        return found

    def _put(self, key: tuple[str, str], text: str) -> None:
        if key not in self._bodies:
            size = sys.getsizeof(text) + _CONTENT_OVERHEAD
            self._bodies[key] = (text, size)
            self.bytes += size

    def _evict(self) -> None:
        while self.bytes > self.max_bytes and self._bodies:
            key, (_, size) = self._bodies.popitem(last=False)
            self._identities.pop(key, None)
            self.bytes -= size


class _RememberedIdentities(MessageIdentities):
    def __init__(self, tenant: str, contents: Mapping[str, str], cache: ContentCache) -> None:
        super().__init__(contents)
        self.tenant = tenant
        self.cache = cache

    def __call__(self, content_hash: str) -> str:
        found = self._known.get(content_hash)
        if found is None:
            found = self._known[content_hash] = self.cache._identity(
                self.tenant, content_hash, self.contents.get(content_hash)
            )
        return found
