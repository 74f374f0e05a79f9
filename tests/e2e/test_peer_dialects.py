"""Issue 4 acceptance (b)-(d): the same 3-turn tool-using task, traced by another
instrumentation instead of trajotel's, gives the same trajectory in the store.

``programs/openai_loop.py`` (a plain openai tool loop: no trajotel code, no root span) runs
under ``opentelemetry-instrument`` with trajotel's own instrumentors disabled and one peer's
loaded, exporting to a real collector: the official openai-v2 instrumentation (content on the
span, and content only in the operation-details log event), OpenLLMetry and
OpenInference, each with its content capture on. The stored trajectory must equal what the fake
server saw and answered, and what trajotel's own instrumentation (a) stores for the same run:
messages, tool calls, tool results, order.

The peers live in overlay venvs built by ``bench/peers.py`` (see tests/e2e/test_coexistence.py).
"""

from __future__ import annotations

import json
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from trajotel.assemble.model import Trajectory
from trajotel.testing.collector_process import CollectorProcess
from trajotel.testing.fake_llm import FakeLLMServer

from tests.support.agent_runs import OPENTELEMETRY_INSTRUMENT, agent_env, only_trajectory, run_agent
from tests.support.trajectory_match import check_trajectory, from_semconv

PROGRAM = Path(__file__).resolve().parent / "programs" / "openai_loop.py"
ANSWER = "It is sunny and 22 C in Paris, and 21 + 21 = 42."
# Every instrumentor trajotel registers: the peer alone must trace the run.
TRAJOTEL_INSTRUMENTORS = ",".join(
    sorted(
        ep.name
        for ep in metadata.entry_points(group="opentelemetry_instrumentor")
        if ep.name.startswith("trajotel")
    )
)

# (peer venv, environment): how each dialect is produced.
DIALECT_RUNS: dict[str, tuple[str, dict[str, str]]] = {
    "openai-v2": ("openai-v2", {}),  # the peer's content_env: GenAI 1.37+, content on the span
    # Content only in the gen_ai.client.inference.operation.details log event, not on the span.
    # (The per-message events of GenAI <= 1.36 need openai-v2 <= 2.1 and openai 1.x, which the
    # project's venv cannot hold; tests/collector/test_content_events.py sends them instead.)
    "openai-v2-event-only": (
        "openai-v2",
        {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "EVENT_ONLY"},
    ),
    "openllmetry": ("openllmetry", {}),
    "openinference": ("openinference", {}),
}


def _shape(trajectory: Trajectory) -> list[dict[str, Any]]:
    """What must be the same whoever traced the run: per turn, the messages, the tool calls
    with their results, in order. The fake server makes up new tool-call ids on every run, so
    ids are compared by their order of first appearance."""
    ids: dict[str, str] = {}

    def same_ids(value: Any) -> Any:
        if isinstance(value, tuple | list):
            return tuple(same_ids(v) for v in value)
        if isinstance(value, str) and value.startswith("call_"):
            return ids.setdefault(value, f"call#{len(ids)}")
        return value

    return [
        {
            "input": same_ids([from_semconv(m.to_dict()) for m in turn.input_messages]),
            "output": same_ids([from_semconv(m.to_dict()) for m in turn.output_messages]),
            "tool_calls": same_ids(
                [(c.id, c.name, json.dumps(c.arguments), c.result) for c in turn.tool_calls]
            ),
        }
        for turn in trajectory.turns
    ]


def _run(
    command: list[str], env: dict[str, str], collector: CollectorProcess, fake: FakeLLMServer
) -> Trajectory:
    lines = run_agent(command, env).stdout.splitlines()
    assert f"ANSWER {ANSWER}" in lines
    trajectory = only_trajectory(collector)
    check_trajectory(trajectory, fake.requests)
    assert len(trajectory.turns) == 3
    return trajectory


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """(a): the run traced by trajotel's own instrumentation."""
    from trajotel.testing.collector_process import CollectorProcess as Process

    from tests.support.agent_runs import COLLECTOR_ENV

    with (
        FakeLLMServer() as fake,
        Process(tmp_path_factory.mktemp("reference"), env=COLLECTOR_ENV) as collector,
    ):
        command = [OPENTELEMETRY_INSTRUMENT, sys.executable, str(PROGRAM)]
        return _shape(_run(command, agent_env(collector, fake), collector, fake))


@pytest.mark.parametrize("dialect", list(DIALECT_RUNS))
def test_a_peer_traced_run_gives_the_same_trajectory(
    dialect: str,
    peers: dict[str, Any],
    reference: list[dict[str, Any]],
    collector: CollectorProcess,
    fake_llm: FakeLLMServer,
) -> None:
    peer_name, extra = DIALECT_RUNS[dialect]
    peer = peers[peer_name]
    env = agent_env(
        collector,
        fake_llm,
        **peer["content_env"],
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=TRAJOTEL_INSTRUMENTORS,
    )
    env.update(extra)
    trajectory = _run([*peer["instrument"], peer["python"], str(PROGRAM)], env, collector, fake_llm)

    # Only the peer traced it.
    scopes = collector.query("SELECT DISTINCT ScopeName AS scope FROM spans")
    assert scopes and not any(r["scope"].startswith("trajotel") for r in scopes), scopes
    assert _shape(trajectory) == reference
    # And the content really came the dialect's way: on the spans, or only in log events.
    spans_with_content, events_with_content = (
        int(collector.query(f"SELECT count() AS n FROM {table} WHERE notEmpty(InputMessageHashes)")[0]["n"])
        for table in ("spans", "logs")
    )
    if "event-only" in dialect:
        assert (spans_with_content, events_with_content) == (0, 3)
    else:
        assert (spans_with_content, events_with_content) == (3, 0)
