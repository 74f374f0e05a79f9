"""The assembler's caches (``trajotel.assemble.cache``) give exactly what the store gives.

Real traffic: generated agent runs (real OpenTelemetry SDK spans, through the real OTLP encoder,
spool, store writer and assembly worker on chdb) and a legacy instrumentation's content events.
Every cached span row must equal the row ``load_trace_spans`` reads back for it (same keys, same
values and types), every cached body the one ``load_contents`` reads; and the cases the cache
cannot know about (spans stored before it existed, evicted, purged since) must be read from
the store, so the trajectories stay what they would be without a cache.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.sdk.trace import ReadableSpan

from trajotel import semconv as sc
from trajotel.assemble.model import Trajectory
from trajotel.assemble.worker import AssemblyWorker
from trajotel.store import Store
from trajotel.store.edits import delete_trajectory
from trajotel.store.trajectories import load_contents, load_trace_spans, read_trajectory

from tests.collector.test_content_events import record_loop
from tests.support.generated_runs import AgentPlan, Run, ToolPlan, TurnPlan, record, runs
from tests.support.pipeline import InProcessPipeline

_tenants = itertools.count()


class Pipeline(InProcessPipeline):
    """The collector's ingest and assembly in a tenant of its own (trace ids repeat across
    tenants when the same spans are delivered twice). Given a ``tenant`` already used, it is
    that pipeline's collector started again: same spool, new worker."""

    def __init__(self, store: Store, root: Path, tenant: str | None = None, **worker: Any) -> None:
        self.tenant = tenant or f"c{next(_tenants)}"
        super().__init__(store, root / f"spool-{self.tenant}")
        if worker:
            self.worker = AssemblyWorker(store, idle_timeout_s=5.0, poll_interval_s=0.1, **worker)
            self.writer.on_stored = self.worker.notify

    def send(self, spans: Sequence[ReadableSpan], size: int = 7) -> None:
        """Requests of ``size`` spans, each followed by a pass (running versions)."""
        for i in range(0, len(spans), size):
            request = encode_spans(spans[i : i + size])
            tenant = KeyValue(key=sc.TRAJOTEL_TENANT, value=AnyValue(string_value=self.tenant))
            for resource_spans in request.resource_spans:
                resource_spans.resource.attributes.append(tenant)
            self.store_request(request)
            self.assemble(idle=False)

    def trajectories(self) -> dict[str, Trajectory]:
        """Every live trajectory without what legitimately differs between deliveries."""
        out = {}
        rows = self.store.query(
            "SELECT trajectory_id FROM trajectories WHERE tenant = {t:String}", {"t": self.tenant}
        ).rows
        for (tid,) in rows:
            found = read_trajectory(self.store, str(tid), tenant=self.tenant)
            assert found is not None
            out[str(tid)] = dataclasses.replace(found, version=0, assembled_at_unix_nano=0, tenant="")
        return out


def _by_span(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["SpanId"]: row for row in rows}


def _assert_cache_matches_store(pipeline: Pipeline) -> int:
    """Every cached row and body equals what the store reads back; returns the traces checked."""
    store, spans, contents = pipeline.store, pipeline.worker.span_cache, pipeline.worker.content_cache
    keys = spans.traces()
    stored = load_trace_spans(store, keys)
    for key in keys:
        cached = spans.rows_of(key)
        from_store = _by_span(stored[key])
        assert set(cached) <= set(from_store), f"{key}: cached spans the store does not have"
        for span_id, row in cached.items():
            expected = from_store[span_id]
            assert row == expected, f"{key} {span_id}"
            assert list(row) == list(expected)
            assert [type(v) for v in row.values()] == [type(v) for v in expected.values()]
    bodies = load_contents(store, contents.hashes())
    assert {key: contents.body_of(key) for key in contents.hashes()} == bodies
    return len(keys)


def _runs_of_two_agents() -> list[ReadableSpan]:
    """An agent run with an invoke_agent root and a flat loop threaded by history, at once."""
    tool = ToolPlan(name="search", traced=True, fails=False)
    turns = (TurnPlan(tools=(tool,)), TurnPlan(tools=(tool, tool)), TurnPlan())
    agents = (AgentPlan(turns=turns, rooted=True), AgentPlan(turns=turns, rooted=False))
    return record(Run(agents=agents, same_system_prompt=False))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(run=runs())
def test_cached_rows_are_the_rows_the_store_reads_back(store: Store, tmp_path: Path, run: Run) -> None:
    pipeline = Pipeline(store, tmp_path)
    pipeline.send(record(run))
    pipeline.assemble(idle=True)
    cache = pipeline.worker.span_cache
    assert _assert_cache_matches_store(pipeline) > 0
    assert cache.hits > 0  # passes took their spans from the cache
    keys = cache.traces()
    direct = {k: _by_span(v) for k, v in load_trace_spans(store, keys).items()}
    assert {k: _by_span(v) for k, v in cache.load(store, keys).items()} == direct
    pipeline.close()


def test_traces_with_content_events_are_read_from_the_store(store: Store, tmp_path: Path) -> None:
    spans, logs = record_loop()
    pipeline = Pipeline(store, tmp_path)
    pipeline.tenant = "default"  # the loop's own requests, as recorded
    pipeline.store_request(encode_spans(spans))
    pipeline.store_request(encode_logs(logs))
    cache = pipeline.worker.span_cache
    keys = cache.traces()
    assert len(keys) == 3, "the spans were cached"
    # The cached rows are the spans as inserted, without content; the store merges the events'
    # content in, and the cache's check sends such traces to the store.
    assert not any(row["InputMessageHashes"] for key in keys for row in cache.rows_of(key).values())
    hits = cache.hits
    loaded = cache.load(store, keys)
    assert cache.hits == hits
    assert {k: _by_span(v) for k, v in loaded.items()} == {
        k: _by_span(v) for k, v in load_trace_spans(store, keys).items()
    }
    assert all(row["InputMessageHashes"] for rows in loaded.values() for row in rows)
    pipeline.assemble(idle=True)
    (trajectory,) = pipeline.trajectories().values()
    assert len(trajectory.turns) == 3 and all(t.input_messages for t in trajectory.turns)
    pipeline.close()


def test_spans_stored_before_a_restart_are_read_from_the_store(store: Store, tmp_path: Path) -> None:
    spans = _runs_of_two_agents()
    in_order = Pipeline(store, tmp_path)
    in_order.send(spans, size=len(spans))
    in_order.assemble(idle=True)
    expected = in_order.trajectories()
    in_order.close()

    first = Pipeline(store, tmp_path)
    half = len(spans) // 2
    first.send(spans[:half])
    first.close()
    # A new collector on the same spool and store: its cache knows only what comes next.
    restarted = Pipeline(store, tmp_path, tenant=first.tenant)
    assert restarted.worker.recover() > 0
    restarted.send(spans[half:])
    restarted.assemble(idle=True)
    assert restarted.worker.span_cache.misses > 0
    assert restarted.trajectories() == expected
    _assert_cache_matches_store(restarted)
    restarted.close()


def test_a_cache_too_small_for_a_trace_changes_nothing(store: Store, tmp_path: Path) -> None:
    spans = _runs_of_two_agents()
    small = Pipeline(store, tmp_path, span_cache_bytes=3_000, content_cache_bytes=2_000)
    small.send(spans, size=3)
    small.assemble(idle=True)
    assert 0 < small.worker.span_cache.bytes <= 3_000
    assert 0 < small.worker.content_cache.bytes <= 2_000
    assert small.worker.span_cache.misses > 0

    off = Pipeline(store, tmp_path, span_cache_bytes=0, content_cache_bytes=0)
    off.send(spans, size=3)
    off.assemble(idle=True)
    assert len(off.worker.span_cache) == 0 and off.worker.span_cache.hits == 0
    assert small.trajectories() == off.trajectories()
    small.close()
    off.close()


def test_purged_spans_do_not_come_back_from_the_cache(store: Store, tmp_path: Path) -> None:
    spans = _runs_of_two_agents()
    pipeline = Pipeline(store, tmp_path)
    pipeline.send(spans, size=len(spans))
    pipeline.assemble(idle=True)
    root = next(s for s in spans if s.name.startswith("invoke_agent"))
    rooted = format(root.context.trace_id, "032x")
    delete_trajectory(store, pipeline.tenant, rooted, purge=True)
    assert len(pipeline.worker.span_cache.rows_of((pipeline.tenant, rooted))) > 1
    # One of its model calls is sent again after the purge; the cache still holds the purged spans.
    late = next(
        s
        for s in spans
        if format(s.context.trace_id, "032x") == rooted and s.name.startswith("chat") and s.parent
    )
    pipeline.send([late])
    pipeline.assemble(idle=True)
    rows = store.query(
        "SELECT SpanCount, TurnCount FROM trajectories_data FINAL "
        "WHERE Tenant = {t:String} AND TrajectoryId = {id:String}",
        {"t": pipeline.tenant, "id": rooted},
    ).rows
    assert [tuple(r) for r in rows] == [(1, 1)]
    pipeline.close()
