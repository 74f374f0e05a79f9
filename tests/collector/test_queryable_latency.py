"""What the latency benchmark relies on (issue 4, item 8): the collector tells when each complete
version's insert returned, and its enrichment worker gives way to assembly without starving."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import pytest

from trajotel.assemble.model import Trajectory
from trajotel.assemble.worker import AssemblyWorker
from trajotel.collector.ingest import SpoolSink, StoreWriter
from trajotel.enrich.runner import Runner
from trajotel.enrich.stage import BaseStage, StageResult
from trajotel.enrich.worker import EnrichmentWorker
from trajotel.spool import Spool
from trajotel.store import Store, enrichments
from trajotel.store.edits import Patch, patch_trajectory
from trajotel.store.feedback import RewardRule, new_feedback, write_feedback, write_reward_rule
from trajotel.store.trajectories import read_trajectory
from trajotel.testing.collector_process import CollectorProcess

from tests.support.agent_spans import record_agent_run

LATER = 1e6  # a monotonic time far past any idle timeout


def _store_run(store: Store, spool_dir: Path, worker: AssemblyWorker) -> str:
    """One agent run stored through the writer (which queues it for ``worker``); its trace id."""
    run = record_agent_run()
    spool = Spool(spool_dir, max_bytes=1 << 30, segment_bytes=1 << 20)
    writer = StoreWriter(
        spool, store, tenant="default", batch_rows=10_000, flush_interval_s=0.0, on_stored=worker.notify
    )
    SpoolSink(spool).export_traces(run.request())
    while writer.drain_once():
        pass
    spool.close()
    return run.trace_id


def test_complete_versions_are_listed_with_when_their_insert_returned(store: Store, tmp_path: Path) -> None:
    worker = AssemblyWorker(store, idle_timeout_s=5.0, poll_interval_s=0.1)
    trace_id = _store_run(store, tmp_path / "spool", worker)
    worker.tick(now=time.monotonic())  # too soon: a running version, not listed
    assert store.query("SELECT status FROM trajectories").rows == [["running"]]
    assert worker.completed_since(0.0) == []

    before = time.time()
    worker.tick(now=time.monotonic() + LATER)
    after = time.time()
    [entry] = worker.completed_since(0.0)
    assert entry["trajectory_id"] == trace_id and entry["tenant"] == "default"
    assert entry["version"] == 2 and entry["turns"] == 3
    assert before <= entry["written_at"] <= after
    # By then the version was stored: it is what a reader gets.
    assert store.query("SELECT version, status FROM trajectories").rows == [[2, "complete"]]
    assert worker.completed_since(entry["written_at"]) == []


def test_no_completed_versions_are_kept_when_the_log_is_off(store: Store, tmp_path: Path) -> None:
    worker = AssemblyWorker(store, idle_timeout_s=5.0, poll_interval_s=0.1, completed_log_size=0)
    _store_run(store, tmp_path / "spool", worker)
    worker.tick(now=time.monotonic() + LATER)
    assert store.query("SELECT status FROM trajectories").rows == [["complete"]]
    assert worker.completed_since(0.0) == []


def test_the_assembler_is_idle_only_while_its_loop_waits(store: Store) -> None:
    worker = AssemblyWorker(store, idle_timeout_s=5.0, poll_interval_s=0.1)
    assert not worker.wait_idle(0.0)  # not started: never idle
    worker.start()
    try:
        assert worker.wait_idle(30.0)  # nothing queued: the loop waits
    finally:
        worker.stop()
        worker.join(30)


class _Counting(BaseStage):
    """A stage that labels every trajectory "ok" and keeps what it was given."""

    version = "1"

    def __init__(self, name: str = "counting") -> None:
        self.name = name
        self.got: list[Trajectory] = []

    @property
    def seen(self) -> list[str]:
        return [t.id for t in self.got]

    def run(self, batch: Sequence[Trajectory]) -> list[StageResult]:
        self.got.extend(batch)
        return [StageResult(t.id, label="ok") for t in batch]


def test_enrichment_gives_way_to_assembly_but_never_starves(store: Store, tmp_path: Path) -> None:
    worker = AssemblyWorker(store, idle_timeout_s=5.0, poll_interval_s=0.1)
    trace_id = _store_run(store, tmp_path / "spool", worker)
    worker.tick(now=time.monotonic() + LATER)
    asked: list[float] = []
    never = threading.Event()

    def never_idle(timeout: float) -> bool:  # an assembler that never runs out of work
        asked.append(timeout)
        return never.wait(timeout)

    stage = _Counting()
    runner = Runner(store, [stage], wait_turn=never_idle, yield_max_s=0.05)
    [report] = runner.run_pending(10)
    assert report.enriched == 1 and stage.seen == [trace_id]  # it ran anyway, after the bound
    assert asked and set(asked) == {0.05} and runner.yielded_s > 0
    assert store.query("SELECT Stage, Label FROM enrichments").rows == [["counting", "ok"]]

    # An idle assembler: no waiting; without wait_turn (manual runs) nothing is asked.
    idle = Runner(store, [_Counting()], wait_turn=worker.wait_idle, yield_max_s=60.0)
    worker.start()
    try:
        [report] = idle.run_pending(10, force=True)
    finally:
        worker.stop()
        worker.join(30)
    assert report.enriched == 1 and idle.yielded_s < 60.0
    manual = Runner(store, [_Counting()], yield_max_s=60.0)
    manual.run_pending(10, force=True)
    assert manual.yielded_s == 0.0


def test_status_lists_complete_versions_since_a_time(tmp_path: Path) -> None:
    run = record_agent_run()
    with CollectorProcess(tmp_path / "data") as collector:
        request = urllib.request.Request(
            collector.http_endpoint + "/v1/traces",
            data=run.request().SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
        deadline = time.monotonic() + 60
        listed: list[dict] = []
        while not listed:
            assert time.monotonic() < deadline, "the run was never listed as complete"
            time.sleep(0.1)
            listed = json.loads(collector.api("GET", "/v1/status?completed_since=0"))["completed_versions"]
        assert [(e["trajectory_id"], e["turns"]) for e in listed] == [(run.trace_id, 3)]
        later = json.loads(collector.api("GET", f"/v1/status?completed_since={listed[0]['written_at']}"))
        assert later["completed_versions"] == []
        assert "completed_versions" not in json.loads(collector.api("GET", "/v1/status"))
        with pytest.raises(urllib.error.HTTPError) as refused:
            collector.api("GET", "/v1/status?completed_since=yesterday")
        assert refused.value.code == 400
        assert "completed_since" in refused.value.read().decode()


def test_the_stages_of_one_pass_read_each_trajectory_once(store: Store, tmp_path: Path) -> None:
    worker = AssemblyWorker(store, idle_timeout_s=5.0, poll_interval_s=0.1)
    trace_id = _store_run(store, tmp_path / "spool", worker)
    worker.tick(now=time.monotonic() + LATER)
    first, second = _Counting("first"), _Counting("second")
    reports = Runner(store, [first, second]).run_pending(10)
    assert [r.enriched for r in reports] == [1, 1]
    assert [t.id for t in first.got] == [trace_id] and len(second.got) == 1
    assert second.got[0] is first.got[0]  # the second stage got what the first one's read gave
    assert sorted(store.query("SELECT Stage FROM enrichments").rows) == [["first"], ["second"]]
    # Another pass reads again: a newer version would be there.
    third = _Counting("third")
    Runner(store, [third]).run_pending(10)
    assert third.got[0] is not first.got[0] and third.got[0].id == trace_id


def test_finished_trajectories_are_handed_to_enrichment_as_a_reader_would_get_them(
    store: Store, tmp_path: Path
) -> None:
    write_reward_rule(store, RewardRule())  # as the collector does at start
    worker = AssemblyWorker(store, idle_timeout_s=5.0, poll_interval_s=0.1, handoff_size=10)
    runs = [_store_run(store, tmp_path / f"spool{i}", worker) for i in range(4)]
    keys = [("default", r) for r in runs]
    worker.tick(now=time.monotonic())  # running versions are not handed off
    assert worker.take_complete(keys) == {}
    worker.tick(now=time.monotonic() + LATER)
    handed = {key: t for key, (_, t) in worker._handoff.items()}
    assert set(handed) == set(keys)
    # What a reader gets is what was assembled.
    assert all(handed[key] == read_trajectory(store, key[1]) for key in keys)
    # Unless people or feedback changed it: then it is read back.
    plain, rated, edited, _ = runs
    write_feedback(store, "default", [new_feedback(rated, value=1.0, label="good")])
    patch_trajectory(store, "default", edited, Patch(tags_add=("reviewed",)))
    stage = _Counting()
    [report] = Runner(store, [stage], handoff=worker.take_complete).run_pending(10, keys=keys[:3])
    assert report.enriched == 3
    got = {t.id: t for t in stage.got}
    assert got[plain] is handed[("default", plain)]  # taken, not read
    for trajectory_id in (rated, edited):
        assert got[trajectory_id] is not handed[("default", trajectory_id)]
        assert got[trajectory_id] == read_trajectory(store, trajectory_id)
    assert got[rated].reward == 1.0 and [f.label for f in got[rated].feedback] == ["good"]
    assert "reviewed" in got[edited].tags
    assert worker.take_complete(keys) == {keys[3]: handed[keys[3]]}  # taken: once
    # A rule without the run's own reward changes every reading: nothing is taken as it is.
    write_reward_rule(store, RewardRule(sources=("human",)))
    assert enrichments.read_as_assembled(store, [keys[3]]) == set()


def test_a_full_handoff_turns_newcomers_away(store: Store, tmp_path: Path) -> None:
    # Enrichment takes the oldest first: those are what a full handoff keeps.
    worker = AssemblyWorker(store, idle_timeout_s=5.0, poll_interval_s=0.1, handoff_size=1)
    first = ("default", _store_run(store, tmp_path / "a", worker))
    worker.tick(now=time.monotonic() + LATER)
    second = ("default", _store_run(store, tmp_path / "b", worker))
    worker.tick(now=time.monotonic() + LATER)
    assert list(worker.take_complete([first, second])) == [first]
    third = ("default", _store_run(store, tmp_path / "c", worker))
    worker.tick(now=time.monotonic() + LATER)
    assert list(worker.take_complete([second, third])) == [third]
    off = AssemblyWorker(store, idle_timeout_s=5.0, poll_interval_s=0.1)  # the default: none kept
    fourth = ("default", _store_run(store, tmp_path / "d", off))
    off.tick(now=time.monotonic() + LATER)
    assert off.take_complete([fourth]) == {}


def test_an_enrichment_backlog_drains_without_waiting_for_the_next_poll(store: Store, tmp_path: Path) -> None:
    worker = AssemblyWorker(store, idle_timeout_s=5.0, poll_interval_s=0.1)
    runs = [_store_run(store, tmp_path / f"spool{i}", worker) for i in range(3)]
    worker.tick(now=time.monotonic() + LATER)
    # One trajectory per pass, and a poll far longer than the test: only passes that follow
    # each other at once get through all three.
    stage = _Counting()
    _run_until(EnrichmentWorker(Runner(store, [stage]), poll_interval_s=3600.0, max_per_pass=1), 3)
    assert sorted(stage.seen) == sorted(runs)

    # While the assembler is behind, what is left waits for the next poll.
    other = _Counting("another")
    runner = Runner(store, [other])
    _run_until(EnrichmentWorker(runner, poll_interval_s=3600.0, max_per_pass=1, busy=lambda: True), 3, 2.0)
    assert len(other.seen) == 1


def _run_until(enricher: EnrichmentWorker, count: int, seconds: float = 60.0) -> None:
    """Start ``enricher``, ask for one pass, wait until it enriched ``count`` (at most
    ``seconds``), stop it."""
    enricher.start()
    enricher.wake()
    deadline = time.monotonic() + seconds
    try:
        while enricher.enriched < count and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        enricher.stop()
        enricher.join(30)
