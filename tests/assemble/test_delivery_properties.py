"""Delivery properties (issue 4, items 4 and 7): for generated agent runs (turns with parallel
tool calls, traced or inferred tool results, streamed and failing calls, sub-agents, flat loops
threaded by history, several agents at once), any way the spans reach the collector gives the
trajectories in-order delivery gives: shuffled, re-sent, split into many requests, part of them
arriving after the rest was assembled complete (reopening what they belong to, as a newer
version); re-sending everything afterwards changes nothing.

Every delivery runs through the real ingest (spool -> store writer) and assembly worker on chdb,
in a tenant of its own in one store (a run's trace and span ids are the same in every tenant).
Hypothesis draws each way of delivering, so a failure shrinks to the least disorder that shows it.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.sdk.trace import ReadableSpan

from trajotel import semconv as sc
from trajotel.assemble.model import Trajectory
from trajotel.store import Store
from trajotel.store.trajectories import read_trajectory

from tests.support.generated_runs import Run, record, runs
from tests.support.pipeline import InProcessPipeline

_tenants = itertools.count()


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Path]]:
    root = tmp_path_factory.mktemp("delivery")
    store = Store.open(f"chdb://{root / 'store'}", database="delivery")
    yield store, root
    store.close()


@dataclass(frozen=True)
class Disorder:
    """How a delivery differs from in-order: the export requests, in arrival order, as span
    indices (each span at least once, re-sent ones again), and after which of them time passes,
    so that everything that arrived so far is assembled complete before the rest comes."""

    requests: tuple[tuple[int, ...], ...]
    pauses: frozenset[int]


@st.composite
def disorders(draw: st.DrawFn, span_count: int) -> Disorder:
    indices = range(span_count)
    resent = draw(st.lists(st.sampled_from(indices), max_size=span_count), label="re-sent")
    arrival = draw(st.permutations([*indices, *resent]), label="arrival")
    size = draw(st.integers(min_value=1, max_value=len(arrival)), label="spans per request")
    requests = tuple(tuple(arrival[i : i + size]) for i in range(0, len(arrival), size))
    paused = draw(st.lists(st.booleans(), min_size=len(requests), max_size=len(requests)), label="pauses")
    return Disorder(requests, frozenset(i for i, pause in enumerate(paused) if pause))


class Delivery:
    """Delivering spans to the collector's pipeline, in a tenant of its own."""

    def __init__(self, store: Store, root: Path) -> None:
        self.tenant = f"t{next(_tenants)}"
        self.store = store
        self.pipeline = InProcessPipeline(store, root / f"spool-{self.tenant}")

    def send(self, spans: Sequence[ReadableSpan]) -> None:
        """One export request, then a pass of the worker (traces not yet idle stay queued)."""
        request = encode_spans(spans)
        tenant = KeyValue(key=sc.TRAJOTEL_TENANT, value=AnyValue(string_value=self.tenant))
        for resource_spans in request.resource_spans:
            resource_spans.resource.attributes.append(tenant)
        self.pipeline.store_request(request)
        self.pipeline.assemble(idle=False)

    def settle(self) -> None:
        """Time passes: every trace goes idle and is assembled."""
        self.pipeline.assemble(idle=True)

    def versions(self) -> dict[str, tuple[int, str]]:
        """trajectory id -> (version, status) of each live trajectory."""
        rows = self.store.query(
            "SELECT trajectory_id, version, status FROM trajectories WHERE tenant = {t:String}",
            {"t": self.tenant},
        ).rows
        return {str(tid): (int(version), str(status)) for tid, version, status in rows}

    def trajectories(self) -> dict[str, Trajectory]:
        """Every live trajectory as people read it, without what legitimately differs between
        deliveries (version, assembly time, tenant)."""
        out = {}
        for tid in self.versions():
            found = read_trajectory(self.store, tid, tenant=self.tenant)
            assert found is not None, f"trajectory {tid} is listed but cannot be read"
            out[tid] = dataclasses.replace(found, version=0, assembled_at_unix_nano=0, tenant="")
        return out

    def close(self) -> None:
        self.pipeline.close()


def _span_ids(trajectory: Trajectory) -> set[str]:
    """The spans a trajectory shows: its root, its model calls and its traced tool calls."""
    ids = {turn.span_id for turn in trajectory.turns} | {trajectory.root_span_id or ""}
    return ids | {call.span_id or "" for turn in trajectory.turns for call in turn.tool_calls}


def _span_id(span: ReadableSpan) -> str:
    return format(span.context.span_id, "016x")


def _reopened(
    delivery: Delivery, before: dict[str, tuple[int, str]], expected: dict[str, Trajectory], new: set[str]
) -> dict[str, tuple[int, str]]:
    """Once time passed, every trajectory is complete, and those that the spans that came since
    the last pause belong to have a newer version than then (a finished one was reopened).
    A trajectory whose id does not exist yet (its earliest trace is still to come) is new anyway."""
    after = delivery.versions()
    assert all(status != "running" for _, status in after.values()), after
    for tid, trajectory in expected.items():
        if tid in after and _span_ids(trajectory) & new:
            assert after[tid][0] > before.get(tid, (0, ""))[0], f"{tid} was not reopened: {before} -> {after}"
    return after


def _model_calls(spans: Sequence[ReadableSpan]) -> int:
    return sum(1 for s in spans if (s.attributes or {}).get("gen_ai.operation.name") == "chat")


@settings(max_examples=10, deadline=None)
@given(run=runs(), data=st.data())
def test_any_delivery_gives_the_in_order_trajectories(
    shared_store: tuple[Store, Path], run: Run, data: st.DataObject
) -> None:
    store, root = shared_store
    spans = record(run)

    in_order = Delivery(store, root)
    in_order.send(spans)
    in_order.settle()
    expected = in_order.trajectories()
    in_order.close()
    # Nothing lost or doubled: every model call is one turn of one trajectory.
    assert sum(len(t.turns) for t in expected.values()) == _model_calls(spans)
    shown = set().union(*map(_span_ids, expected.values()))
    assert {_span_id(s) for s in spans} <= shown, "every span shows in a trajectory"

    disorder = data.draw(disorders(len(spans)), label="disorder")
    delivery = Delivery(store, root)
    versions: dict[str, tuple[int, str]] = {}
    arrived: set[int] = set()
    new: set[int] = set()
    for number, request in enumerate(disorder.requests):
        delivery.send([spans[i] for i in request])
        new |= set(request) - arrived
        arrived |= set(request)
        if number in disorder.pauses or number == len(disorder.requests) - 1:
            delivery.settle()
            versions = _reopened(delivery, versions, expected, {_span_id(spans[i]) for i in new})
            new.clear()
    assert delivery.trajectories() == expected

    delivery.send(spans)  # all of it again, once assembled: no trajectory changes
    delivery.settle()
    assert delivery.versions() == versions
    delivery.close()
