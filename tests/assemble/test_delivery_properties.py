"""Delivery properties (issue 4, items 4 and 7): for generated agent runs (turns with parallel
tool calls, traced or inferred tool results, failing tools and model calls, sub-agents, flat loops
threaded by history, two agents at once), any way the spans reach the collector gives the same
trajectories as in-order delivery: shuffled, re-sent, split into many requests, or with part of
them arriving after the trajectory was assembled complete (which then gets a newer version).

Each delivery runs through the real ingest (spool -> store writer) and assembly worker on chdb,
in its own tenant of one store (the runs' trace and span ids are the same in every tenant).
"""

from __future__ import annotations

import dataclasses
import itertools
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.sdk.trace import ReadableSpan

from trajotel.assemble.model import Trajectory
from trajotel.store import Store
from trajotel.store.trajectories import read_trajectory

from tests.support.generated_runs import AgentPlan, record, runs
from tests.support.pipeline import InProcessPipeline

_tenants = itertools.count()


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Path]]:
    root = tmp_path_factory.mktemp("delivery")
    store = Store.open(f"chdb://{root / 'store'}", database="delivery")
    yield store, root
    store.close()


class Delivery:
    """One way of delivering a run's spans, into a tenant of its own."""

    def __init__(self, store: Store, root: Path) -> None:
        self.tenant = f"t{next(_tenants)}"
        self.store = store
        self.pipeline = InProcessPipeline(store, root / f"spool-{self.tenant}")

    def send(self, spans: list[ReadableSpan]) -> None:
        request = encode_spans(spans)
        for resource_spans in request.resource_spans:
            tenant = KeyValue(key="trajotel.tenant", value=AnyValue(string_value=self.tenant))
            resource_spans.resource.attributes.append(tenant)
        self.pipeline.store_request(request)

    def settle(self) -> None:
        self.pipeline.assemble(idle=True)

    def trajectories(self) -> dict[str, Trajectory]:
        rows = self.store.query(
            "SELECT trajectory_id FROM trajectories WHERE tenant = {t:String}", {"t": self.tenant}
        ).rows
        out = {}
        for (trajectory_id,) in rows:
            found = read_trajectory(self.store, str(trajectory_id), tenant=self.tenant)
            assert found is not None
            out[str(trajectory_id)] = found
        self.pipeline.close()
        return out

    def versions(self) -> dict[str, int]:
        rows = self.store.query(
            "SELECT trajectory_id, version FROM trajectories WHERE tenant = {t:String}", {"t": self.tenant}
        ).rows
        return {str(tid): int(version) for tid, version in rows}


def _comparable(trajectories: dict[str, Trajectory]) -> dict[str, Trajectory]:
    return {
        tid: dataclasses.replace(t, version=0, assembled_at_unix_nano=0, tenant="")
        for tid, t in trajectories.items()
    }


def _chunks(spans: list[ReadableSpan], rng: random.Random) -> list[list[ReadableSpan]]:
    out, rest = [], list(spans)
    while rest:
        size = rng.randint(1, 4)
        out.append(rest[:size])
        rest = rest[size:]
    return out


def _chat_spans(spans: list[ReadableSpan]) -> int:
    return sum(1 for s in spans if (s.attributes or {}).get("gen_ai.operation.name") == "chat")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plans=runs(), seed=st.integers(0, 2**32 - 1))
def test_any_delivery_gives_the_in_order_trajectories(
    shared_store: tuple[Store, Path], plans: list[AgentPlan], seed: int
) -> None:
    store, root = shared_store
    spans = record(plans)
    rng = random.Random(seed)

    in_order = Delivery(store, root)
    in_order.send(spans)
    in_order.settle()
    expected = _comparable(in_order.trajectories())
    # No turn is lost or doubled: every model call is one turn of one trajectory.
    assert sum(len(t.turns) for t in expected.values()) == _chat_spans(spans)

    shuffled = rng.sample(spans, len(spans))
    resent = shuffled + rng.sample(spans, rng.randint(1, len(spans)))
    split = Delivery(store, root)  # shuffled, re-sent, many small requests, a pass after each
    for chunk in _chunks(resent, rng):
        split.send(chunk)
        split.pipeline.assemble(idle=False)
    split.settle()
    assert _comparable(split.trajectories()) == expected

    late = Delivery(store, root)  # part of it after the trajectories were assembled complete
    cut = rng.randint(1, len(spans))
    early, delayed = shuffled[:cut], shuffled[cut:]
    late.send(early)
    late.settle()
    before = late.versions()
    if delayed:
        late.send(delayed)
        late.settle()
    after = late.versions()
    assert _comparable(late.trajectories()) == expected
    if delayed:
        # What was complete and changed got a newer version; nothing went back in time.
        assert all(after.get(tid, 0) >= v for tid, v in before.items() if tid in after)
        assert any(after[tid] > before.get(tid, 0) for tid in after)
