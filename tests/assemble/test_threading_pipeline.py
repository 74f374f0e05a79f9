"""Root-less flat traces through the collector's real path (spool -> writer -> chdb store ->
assembly worker): one trajectory per agent loop, whatever the order the traces arrive in."""

from __future__ import annotations

import dataclasses
import itertools
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from trajotel.assemble.model import Trajectory
from trajotel.assemble.worker import AssemblyWorker
from trajotel.store import Store
from trajotel.store.trajectories import read_trajectory
from trajotel.testing import FakeLLMServer

from tests.assemble.flat_agent import FlatRun, run_flat_agents
from tests.support.pipeline import LATER, InProcessPipeline


class Pipeline(InProcessPipeline):
    def deliver(self, run: FlatRun, index: int, *, idle: bool = True) -> None:
        """Export one trace (one batch), store it, and let the worker make a pass."""
        self.store_request(encode_spans(run.traces[index]))
        self.assemble(idle=idle)

    def live(self) -> list[str]:
        return [
            r[0] for r in self.store.query("SELECT trajectory_id FROM trajectories ORDER BY start_time").rows
        ]


@pytest.fixture(scope="module")
def loop(fake_llm: FakeLLMServer) -> FlatRun:
    return run_flat_agents(fake_llm, ["Weather in Paris, and 21 + 21?"])


@pytest.fixture(scope="module")
def two_loops(fake_llm: FakeLLMServer) -> FlatRun:
    return run_flat_agents(fake_llm, ["Weather in Paris?", "Weather in Oslo?"])


@pytest.fixture
def open_store(store_root: Path) -> Iterator[object]:
    opened: list[Store] = []

    def open_one() -> Store:
        opened.append(Store.open(f"chdb://{store_root}", database=f"t_{uuid.uuid4().hex[:12]}"))
        return opened[-1]

    yield open_one
    for s in opened:
        s.command(f"DROP DATABASE IF EXISTS {s.database}")
        s.close()


def _comparable(trajectory: Trajectory | None) -> Trajectory:
    assert trajectory is not None
    return dataclasses.replace(trajectory, version=0, assembled_at_unix_nano=0)


def _in_order(run: FlatRun, store: Store, tmp: Path) -> dict[str, Trajectory]:
    pipeline = Pipeline(store, tmp)
    for index in range(len(run.traces)):
        pipeline.deliver(run, index)
    pipeline.close()
    return {tid: _comparable(read_trajectory(store, tid)) for tid in pipeline.live()}


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_a_flat_loop_becomes_one_trajectory_in_any_arrival_order(
    loop: FlatRun, store: Store, open_store: object, tmp_path: Path, order: tuple[int, ...]
) -> None:
    pipeline = Pipeline(store, tmp_path / "spool")
    for index in order:
        pipeline.deliver(loop, index)
    trace_ids = [loop.trace_id(t) for t in loop.traces]
    # One live trajectory, named after the first call's trace; absorbed ones are tombstoned.
    assert pipeline.live() == [trace_ids[0]]
    trajectory = read_trajectory(store, trace_ids[0])
    assert trajectory is not None and trajectory.status == "complete"
    assert trajectory.trace_ids == trace_ids
    assert [t.trace_id for t in trajectory.turns] == trace_ids
    calls = [(c.name, c.result, c.result_source) for t in trajectory.turns for c in t.tool_calls]
    # Without tool spans, each result is read from the next call's input.
    assert calls == [("get_weather", '"sunny, 22 C"', "next_input"), ("add", "42", "next_input")]
    assert trajectory.turns[-1].output_messages[0].parts[0].content.startswith("It is sunny")
    for absorbed in trace_ids[1:]:
        assert read_trajectory(store, absorbed) is None
    assert store.query("SELECT count() FROM turns").rows == [[3]]
    assert store.query("SELECT DISTINCT trajectory_id FROM trajectory_traces").rows == [[trace_ids[0]]]
    pipeline.close()
    # The same as delivering the traces in order.
    reference = _in_order(loop, open_store(), tmp_path / "reference")  # type: ignore[operator]
    assert {trace_ids[0]: _comparable(trajectory)} == reference


def test_interleaved_loops_become_two_trajectories(two_loops: FlatRun, store: Store, tmp_path: Path) -> None:
    pipeline = Pipeline(store, tmp_path / "spool")
    for index in (5, 0, 3, 2, 1, 4):
        pipeline.deliver(two_loops, index)
    firsts = [two_loops.trace_id(two_loops.traces_of(agent)[0]) for agent in (0, 1)]
    assert sorted(pipeline.live()) == sorted(firsts)
    for agent, first in enumerate(firsts):
        trajectory = read_trajectory(store, first)
        assert trajectory is not None
        assert trajectory.trace_ids == [two_loops.trace_id(t) for t in two_loops.traces_of(agent)]
        task = trajectory.turns[0].input_messages[1].parts[0].content
        assert task == ["Weather in Paris?", "Weather in Oslo?"][agent]
        assert all(t.input_messages[1].parts[0].content == task for t in trajectory.turns)
    pipeline.close()


def test_running_passes_and_restart_recovery_keep_one_trajectory(
    loop: FlatRun, store: Store, tmp_path: Path
) -> None:
    pipeline = Pipeline(store, tmp_path / "spool")
    pipeline.deliver(loop, 2, idle=False)  # assembled while "running"
    pipeline.deliver(loop, 0, idle=False)
    first = loop.trace_id(loop.traces[0])
    assert pipeline.live() == [first]
    running = read_trajectory(store, first)
    assert running is not None and running.status == "running" and len(running.turns) == 2
    # A new collector picks up what the old one left running.
    fresh = AssemblyWorker(store, idle_timeout_s=5.0, poll_interval_s=0.1)
    assert fresh.recover() == 2
    pipeline.worker = fresh
    pipeline.writer.on_stored = fresh.notify
    pipeline.deliver(loop, 1)
    done = read_trajectory(store, first)
    assert done is not None and done.status == "complete" and len(done.turns) == 3
    assert AssemblyWorker(store, idle_timeout_s=5.0, poll_interval_s=0.1).recover() == 0
    pipeline.close()


def test_a_settled_call_waits_for_the_calls_after_it_that_have_arrived(
    loop: FlatRun, store: Store, tmp_path: Path
) -> None:
    # The first call goes quiet while the next two have arrived but, the collector being busy,
    # have not been assembled yet: the loop is still running, with all three calls, not
    # finished with one (and finished again with each later call).
    pipeline = Pipeline(store, tmp_path / "spool", idle_timeout_s=1.0)
    pipeline.worker.ingest_busy = lambda: True  # no running versions: only quiet traces are built
    pipeline.store_request(encode_spans(loop.traces[0]))
    time.sleep(1.2)
    pipeline.store_request(encode_spans(loop.traces[1]))
    pipeline.store_request(encode_spans(loop.traces[2]))
    pipeline.worker.tick(now=time.monotonic())  # the first call is quiet, the others are not
    first = loop.trace_id(loop.traces[0])
    trajectory = read_trajectory(store, first)
    assert trajectory is not None
    assert (trajectory.status, len(trajectory.turns)) == ("running", 3)
    assert pipeline.live() == [first]
    pipeline.assemble()
    done = read_trajectory(store, first)
    assert done is not None and (done.status, len(done.turns), done.version) == ("complete", 3, 2)
    pipeline.close()


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_duplicates_and_any_order_give_the_in_order_result(
    two_loops: FlatRun, open_store: object, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    n = len(two_loops.traces)
    order = data.draw(st.permutations(range(n)))
    resent = data.draw(st.lists(st.integers(0, n - 1), max_size=3))
    idles = data.draw(st.lists(st.booleans(), min_size=n + len(resent), max_size=n + len(resent)))
    store = open_store()  # type: ignore[operator]
    pipeline = Pipeline(store, tmp_path_factory.mktemp("spool"))
    for index, idle in zip([*order, *resent], idles, strict=True):
        pipeline.deliver(two_loops, index, idle=idle)
    pipeline.worker.tick(now=time.monotonic() + 2 * LATER)
    pipeline.close()
    got = {tid: _comparable(read_trajectory(store, tid)) for tid in pipeline.live()}
    expected = _in_order(two_loops, open_store(), tmp_path_factory.mktemp("reference"))  # type: ignore[operator]
    assert got == expected
