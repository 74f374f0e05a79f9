"""Spool -> store writer -> assembler, in process, against the real embedded engine."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan

from trajotel.assemble.assembler import assemble_trace
from trajotel.assemble.worker import AssemblyWorker
from trajotel.collector.ingest import SpoolSink, StoreWriter
from trajotel.spool import Spool
from trajotel.store import Store
from trajotel.store.trajectories import load_contents, load_trace_spans, read_trajectory

from tests.support.agent_spans import record_agent_run

LATER = 1e6  # a monotonic time far past any idle timeout


def _pipeline(store: Store, spool_dir: Path) -> tuple[Spool, SpoolSink, StoreWriter, AssemblyWorker]:
    spool = Spool(spool_dir, max_bytes=1 << 30, segment_bytes=1 << 20)
    worker = AssemblyWorker(store, idle_timeout_s=5.0, poll_interval_s=0.1)
    writer = StoreWriter(
        spool, store, tenant="default", batch_rows=10_000, flush_interval_s=0.0, on_stored=worker.notify
    )
    return spool, SpoolSink(spool), writer, worker


def _drain(writer: StoreWriter) -> None:
    while writer.drain_once():
        pass


def test_agent_run_becomes_a_trajectory_turn_by_turn(store: Store, tmp_path: Path) -> None:
    run = record_agent_run()
    _spool, sink, writer, worker = _pipeline(store, tmp_path / "spool")
    sink.export_traces(run.request())
    _drain(writer)
    worker.tick(now=time.monotonic() + LATER)

    trajectory = read_trajectory(store, run.trace_id)
    assert trajectory is not None
    assert trajectory.status == "complete"
    assert trajectory.version == 1
    assert trajectory.agent_name == "weather-agent"
    assert trajectory.task == "Weather in Paris, and 21 + 21?"
    assert trajectory.service_name == "test-agent"
    assert [t.index for t in trajectory.turns] == [0, 1, 2]
    for turn, sent, received in zip(trajectory.turns, run.turns_in, run.turns_out, strict=True):
        assert [m.to_semconv() for m in turn.input_messages] == sent
        assert [m.to_semconv() for m in turn.output_messages] == received
    calls = [
        (c.id, c.name, c.arguments, c.result, c.status, c.result_source)
        for t in trajectory.turns
        for c in t.tool_calls
    ]
    assert calls == [
        ("call_1", "get_weather", {"city": "Paris"}, "sunny, 22 C", "ok", "execute_tool_span"),
        ("call_2", "add", {"a": 21, "b": 21}, 42, "ok", "execute_tool_span"),
    ]
    assert [t.usage.input_tokens for t in trajectory.turns] == [10, 20, 30]
    assert trajectory.usage.input_tokens == 60 and trajectory.usage.output_tokens == 15
    assert [t.finish_reasons for t in trajectory.turns] == [["tool_calls"], ["tool_calls"], ["stop"]]
    assert trajectory.tools_used == ["add", "get_weather"]
    assert trajectory.span_count == len(run.spans)
    # The friendly views agree with the model.
    assert store.query(
        "SELECT count() FROM turns WHERE trajectory_id = {id:String}", {"id": run.trace_id}
    ).rows == [[3]]
    assert store.query("SELECT tool_name, result FROM tool_calls ORDER BY turn_index").rows == [
        ["get_weather", '"sunny, 22 C"'],
        ["add", "42"],
    ]


def test_history_content_is_stored_once(store: Store, tmp_path: Path) -> None:
    run = record_agent_run()
    _spool, sink, writer, worker = _pipeline(store, tmp_path / "spool")
    sink.export_traces(run.request())
    _drain(writer)
    worker.tick(now=time.monotonic() + LATER)
    distinct = {
        str(m)
        for turn_in, turn_out in zip(run.turns_in, run.turns_out, strict=True)
        for m in (*turn_in, *turn_out)
    }
    stored = store.query("SELECT count() FROM message_contents FINAL WHERE Kind = 'message'").rows[0][0]
    assert stored == len(distinct)


def test_resent_spans_change_nothing(store: Store, tmp_path: Path) -> None:
    run = record_agent_run()
    _spool, sink, writer, worker = _pipeline(store, tmp_path / "spool")
    sink.export_traces(run.request())
    _drain(writer)
    worker.tick(now=time.monotonic() + LATER)
    before = read_trajectory(store, run.trace_id)
    # The exporter retries the same batch (e.g. it never saw our acknowledgement).
    sink.export_traces(run.request())
    _drain(writer)
    worker.tick(now=time.monotonic() + 2 * LATER)
    after = read_trajectory(store, run.trace_id)
    assert after == before
    assert after is not None and after.version == 1


def test_late_span_makes_a_newer_version(store: Store, tmp_path: Path) -> None:
    run = record_agent_run()
    late = run.by_name("execute_tool add")
    early = [s for s in run.spans if s not in late]
    _spool, sink, writer, worker = _pipeline(store, tmp_path / "spool")
    sink.export_traces(run.request(early))
    _drain(writer)
    worker.tick(now=time.monotonic() + LATER)
    first = read_trajectory(store, run.trace_id)
    assert first is not None and first.version == 1 and first.status == "complete"
    # Without its tool span, the add result is read from the next model call's input.
    add_call = first.turns[1].tool_calls[0]
    assert (add_call.result, add_call.result_source) == (42, "next_input")

    sink.export_traces(run.request(late))
    _drain(writer)
    worker.tick(now=time.monotonic() + 2 * LATER)
    second = read_trajectory(store, run.trace_id)
    assert second is not None and second.version == 2 and second.status == "complete"
    assert second.turns[1].tool_calls[0].result_source == "execute_tool_span"
    assert second.span_count == len(run.spans)
    # The friendly view shows only the newest version.
    assert store.query("SELECT version FROM trajectories").rows == [[2]]
    assert store.query("SELECT count(), max(version) FROM turns").rows == [[3, 2]]


def test_trajectory_is_running_until_idle(store: Store, tmp_path: Path) -> None:
    run = record_agent_run()
    _spool, sink, writer, worker = _pipeline(store, tmp_path / "spool")
    sink.export_traces(run.request())
    _drain(writer)
    worker.tick(now=time.monotonic())  # just arrived: assembled, but not complete
    running = read_trajectory(store, run.trace_id)
    assert running is not None and running.status == "running"
    worker.tick(now=time.monotonic() + LATER)
    done = read_trajectory(store, run.trace_id)
    assert done is not None and done.status == "complete" and done.version == running.version + 1


def test_replayed_batch_after_a_crash_is_not_stored_twice(store: Store, tmp_path: Path) -> None:
    run = record_agent_run()
    spool, sink, writer, _worker = _pipeline(store, tmp_path / "spool")
    sink.export_traces(run.request())
    # Crash after the store write but before the checkpoint moved: simulate by writing the batch
    # the way the writer does, then dropping the process state without commit.
    original_commit = spool.commit
    spool.commit = lambda end: None  # type: ignore[method-assign]
    assert writer.drain_once()
    spool.commit = original_commit  # type: ignore[method-assign]
    spool.close()
    stored = store.query("SELECT count() FROM spans").rows[0][0]
    assert stored == len(run.spans)

    reopened = Spool(tmp_path / "spool", max_bytes=1 << 30, segment_bytes=1 << 20)
    assert reopened.pending is not None  # the in-flight batch is known after restart
    replay = StoreWriter(reopened, store, tenant="default", batch_rows=10_000, flush_interval_s=0.0)
    assert replay.drain_once()
    assert store.query("SELECT count() FROM spans").rows[0][0] == stored
    assert not replay.drain_once()


def test_restart_requeues_unassembled_traces(store: Store, tmp_path: Path) -> None:
    run = record_agent_run()
    _spool, sink, writer, _worker = _pipeline(store, tmp_path / "spool")
    sink.export_traces(run.request())
    _drain(writer)  # stored, but the process "dies" before assembling
    fresh = AssemblyWorker(store, idle_timeout_s=5.0, poll_interval_s=0.1)
    assert fresh.recover() == 1
    fresh.tick(now=time.monotonic() + LATER)
    assert read_trajectory(store, run.trace_id) is not None
    assert AssemblyWorker(store, idle_timeout_s=5.0, poll_interval_s=0.1).recover() == 0


def test_assembly_ignores_order_and_duplicates(store: Store, tmp_path: Path) -> None:
    run = record_agent_run()
    _spool, sink, writer, _worker = _pipeline(store, tmp_path / "spool")
    sink.export_traces(run.request())
    _drain(writer)
    spans = load_trace_spans(store, [("default", run.trace_id)])["default", run.trace_id]
    hashes = {("default", h) for s in spans for h in (*s["InputMessageHashes"], *s["OutputMessageHashes"])}
    contents = {h: text for (_, h), text in load_contents(store, hashes).items()}
    expected = assemble_trace(spans, contents, complete=True)
    rng = random.Random(7)
    for _ in range(20):
        shuffled = spans + rng.sample(spans, k=rng.randint(0, len(spans)))
        rng.shuffle(shuffled)
        assert assemble_trace(shuffled, contents, complete=True) == expected


def test_worker_processes_survive_a_killed_worker_without_losing_records(
    store: Store, tmp_path: Path
) -> None:
    runs = [record_agent_run() for _ in range(4)]
    spool = Spool(tmp_path / "spool", max_bytes=1 << 30, segment_bytes=1 << 20)
    writer = StoreWriter(spool, store, tenant="default", batch_rows=10_000, flush_interval_s=0.0, workers=2)
    sink = SpoolSink(spool)
    for run in runs:
        sink.export_traces(run.request())
    writer._pool = writer._new_pool()
    try:
        writer._submit_more()
        victim = next(iter(writer._pool._processes))  # a worker process, mid-start or mid-work
        os.kill(victim, signal.SIGKILL)
        _drain(writer)
    finally:
        writer._pool.shutdown(wait=True)
    expected = sum(len(run.spans) for run in runs)
    assert store.query("SELECT count(), uniqExact(SpanId) FROM spans").rows == [[expected, expected]]


def test_the_trajectory_api_feeds_the_assembler(store: Store, tmp_path: Path) -> None:
    """trajotel.trajectory() / @trajotel.tool spans become a trajectory with task, outcome, reward."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import trajotel

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    @trajotel.tool(tracer_provider=provider)
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    with trajotel.trajectory(task="What is 2 + 3?", agent="calc", tracer_provider=provider) as t:
        chat = provider.get_tracer("test").start_span(
            "chat m",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "m",
                "gen_ai.output.messages": '[{"role":"assistant","parts":[{"type":"tool_call","id":"c1",'
                '"name":"add","arguments":{"a":2,"b":3}}],"finish_reason":"tool_call"}]',
            },
        )
        chat.end()
        with trajotel.tool_call("c1"):
            assert add(2, 3) == 5
        t.outcome("success", reason="checked")
        trajotel.reward(0.75)

    _spool, sink, writer, worker = _pipeline(store, tmp_path / "spool")
    sink.export_traces(encode_spans(exporter.get_finished_spans()))
    _drain(writer)
    worker.tick(now=time.monotonic() + LATER)
    trace_id = format(exporter.get_finished_spans()[0].context.trace_id, "032x")
    trajectory = read_trajectory(store, trace_id)
    assert trajectory is not None
    assert (trajectory.task, trajectory.agent_name, trajectory.reward) == ("What is 2 + 3?", "calc", 0.75)
    assert (trajectory.outcome.label, trajectory.outcome.source) == ("success", "explicit")
    (call,) = trajectory.turns[0].tool_calls
    assert (call.name, call.arguments, call.result, call.result_source) == (
        "add",
        {"a": 2, "b": 3},
        5,
        "execute_tool_span",
    )


def test_an_orphan_trace_completes_after_the_orphan_timeout(store: Store, tmp_path: Path) -> None:
    """The root span never arrives: the trace runs until ``orphan_timeout_s`` of quiet, then is
    a complete trajectory of what it has; the root arriving later makes a newer version."""
    run = record_agent_run()
    (root,) = run.by_name("invoke_agent")
    children = [s for s in run.spans if s is not root]
    spool, sink, writer, worker = _pipeline(store, tmp_path / "spool")
    worker.orphan_timeout_s = 60.0
    sink.export_traces(run.request(children))
    _drain(writer)
    arrived = time.monotonic()

    worker.tick(now=arrived + 10.0)  # idle, but the root may still come
    running = read_trajectory(store, run.trace_id)
    assert running is not None and running.status == "running"
    worker.tick(now=arrived + 30.0)
    assert read_trajectory(store, run.trace_id).version == running.version  # no rebuild while waiting

    worker.tick(now=arrived + 61.0)
    orphan = read_trajectory(store, run.trace_id)
    assert orphan is not None
    assert (orphan.status, orphan.version) == ("complete", running.version + 1)
    assert [t.index for t in orphan.turns] == [0, 1, 2]
    assert orphan.agent_name is None  # the agent's name was on the missing root
    assert worker.pending_count() == 0

    sink.export_traces(run.request([root]))
    _drain(writer)
    worker.tick(now=time.monotonic() + LATER)
    whole = read_trajectory(store, run.trace_id)
    assert whole is not None
    assert (whole.status, whole.version, whole.agent_name) == (
        "complete",
        orphan.version + 1,
        "weather-agent",
    )
    assert [t.to_dict() for t in whole.turns] == [t.to_dict() for t in orphan.turns]
    spool.close()


def test_a_new_spool_into_the_same_store_loses_nothing(store: Store, tmp_path: Path) -> None:
    """Spool positions start at 0 in every spool (a new data directory; several collectors
    writing into one ClickHouse): batches of different spools must never look like re-sent ones
    to the store's insert deduplication."""
    runs = [record_agent_run(), record_agent_run()]
    ids = []
    for number, run in enumerate(runs):
        spool, sink, writer, _worker = _pipeline(store, tmp_path / f"spool-{number}")
        sink.export_traces(run.request())
        _drain(writer)
        ids.append(spool.id)
        spool.close()
    stored = store.query("SELECT DISTINCT TraceId FROM spans").rows
    assert {str(trace) for (trace,) in stored} == {run.trace_id for run in runs}
    # A spool keeps its identity across restarts, so a re-formed batch is still recognized.
    assert ids[0] != ids[1]
    assert Spool(tmp_path / "spool-0", max_bytes=1 << 30, segment_bytes=1 << 20).id == ids[0]


def test_an_agent_run_is_complete_soon_after_its_root_a_flat_call_after_the_idle_period(
    store: Store, tmp_path: Path
) -> None:
    """The invoke_agent root ends the run: complete after assemble.agent_root_grace_s of quiet.
    A root-less model call (a flat loop's) may be continued by the next call's trace: it waits
    the idle timeout."""
    run = record_agent_run()
    flat = record_agent_run()
    flat_call = next(s for s in flat.spans if s.name.startswith("chat"))
    spool, sink, writer, _ = _pipeline(store, tmp_path / "spool")
    worker = AssemblyWorker(store, idle_timeout_s=5.0, agent_root_grace_s=0.5, poll_interval_s=0.1)
    writer.on_stored = worker.notify
    sink.export_traces(run.request())
    flat_root = ReadableSpan(
        name=flat_call.name,
        context=flat_call.context,
        parent=None,  # a flat loop's call: the root of its own trace
        attributes=flat_call.attributes,
        kind=flat_call.kind,
        resource=flat_call.resource,
        start_time=flat_call.start_time,
        end_time=flat_call.end_time,
    )
    sink.export_traces(encode_spans([flat_root]))
    _drain(writer)
    stored_at = time.monotonic()

    def status(trace_id: str) -> str:
        rows = store.query(
            "SELECT status FROM trajectories WHERE trajectory_id = {t:String}", {"t": trace_id}
        ).rows
        return str(rows[0][0]) if rows else "missing"

    worker.tick(now=stored_at + 1.0)  # past the grace, well before the idle timeout
    assert status(run.trace_id) == "complete"
    flat_trace = format(flat_call.context.trace_id, "032x")
    assert status(flat_trace) == "running"
    worker.tick(now=stored_at + 6.0)
    assert status(flat_trace) == "complete"
    spool.close()
