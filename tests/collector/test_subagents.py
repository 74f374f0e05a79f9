"""Sub-agents become child trajectories: a real run (openai SDK under trajotel's instrumentation,
nested ``trajotel.trajectory`` blocks) through spool -> store -> assembly worker on chdb."""

from __future__ import annotations

import random
import time
from pathlib import Path

import openai
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import trajotel
from trajotel.assemble.worker import AssemblyWorker
from trajotel.collector.ingest import SpoolSink, StoreWriter
from trajotel.instrument.openai import OpenAIInstrumentor
from trajotel.spool import Spool
from trajotel.store import Store
from trajotel.store.trajectories import read_trajectory
from trajotel.testing import FakeLLMServer

HELLO = [{"role": "user", "content": "hi"}]


def record_run(fake: FakeLLMServer) -> list[ReadableSpan]:
    """A planner agent calls the model, then runs a researcher sub-agent (which runs a checker
    sub-agent of its own), then calls the model again."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        client = openai.OpenAI(base_url=fake.base_url, api_key="k", max_retries=0)

        def ask(text: str) -> None:
            client.chat.completions.create(model="fake-chat", messages=[{"role": "user", "content": text}])

        with trajotel.trajectory(task="plan a trip", agent="planner", tracer_provider=provider):
            ask("plan: step 1")
            with trajotel.trajectory(task="find flights", agent="researcher", tracer_provider=provider):
                ask("research: flights")
                with trajotel.trajectory(task="check prices", agent="checker", tracer_provider=provider):
                    ask("check: prices")
                ask("research: summary")
            ask("plan: step 2")
    finally:
        instrumentor.uninstrument()
    return list(exporter.get_finished_spans())


def test_sub_agents_are_child_trajectories_in_any_arrival_order(store: Store, tmp_path: Path) -> None:
    with FakeLLMServer() as fake:
        spans = record_run(fake)
    trace_id = format(spans[0].context.trace_id, "032x")
    agent_span = {s.attributes.get("gen_ai.agent.name"): format(s.context.span_id, "016x") for s in spans}
    random.Random(7).shuffle(spans)  # children before parents, the root last or first

    spool = Spool(tmp_path / "spool", max_bytes=1 << 30, segment_bytes=1 << 20)
    worker = AssemblyWorker(store, idle_timeout_s=5.0, poll_interval_s=0.1)
    writer = StoreWriter(
        spool, store, tenant="default", batch_rows=10_000, flush_interval_s=0.0, on_stored=worker.notify
    )
    sink = SpoolSink(spool)
    for half in (spans[: len(spans) // 2], spans[len(spans) // 2 :]):
        sink.export_traces(encode_spans(half))
        while writer.drain_once():
            pass
        worker.tick(now=time.monotonic())
    worker.tick(now=time.monotonic() + 1e6)
    spool.close()

    researcher_id = f"{trace_id}/{agent_span['researcher']}"
    checker_id = f"{trace_id}/{agent_span['checker']}"  # ids stay flat: top-level id / span id
    expected = {
        trace_id: ("planner", None, ["plan: step 1", "plan: step 2"]),
        researcher_id: ("researcher", trace_id, ["research: flights", "research: summary"]),
        checker_id: ("checker", researcher_id, ["check: prices"]),
    }
    for trajectory_id, (agent, parent, asked) in expected.items():
        trajectory = read_trajectory(store, trajectory_id)
        assert trajectory is not None, trajectory_id
        assert (trajectory.agent_name, trajectory.parent_trajectory_id, trajectory.status) == (
            agent,
            parent,
            "complete",
        )
        assert [t.input_messages[0].parts[0].content for t in trajectory.turns] == asked
    stored = store.query("SELECT count() FROM trajectories").rows[0][0]
    assert stored == 3
