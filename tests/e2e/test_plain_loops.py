"""Plain openai and anthropic tool loops, no trajotel code and no root span, run under
``opentelemetry-instrument`` against a real collector and the fake LLM server.

Each model call is its own trace; the collector threads them into one trajectory by message
history, whose turns must be exactly the calls the server saw and answered, with the tools'
results read from the next call's input.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from trajotel.assemble.model import Trajectory
from trajotel.testing.collector_process import CollectorProcess
from trajotel.testing.fake_llm import FakeLLMServer

from tests.e2e.test_end_to_end import _wait_for
from tests.support.trajectory_match import check_trajectory

PROGRAMS = Path(__file__).resolve().parent / "programs"
BIN = Path(sys.executable).parent
ANSWER = "It is sunny and 22 C in Paris, and 21 + 21 = 42."


@pytest.fixture
def fake_llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[CollectorProcess]:
    process = CollectorProcess(tmp_path / "data", env={"TRAJOTEL_ASSEMBLE_IDLE_TIMEOUT_S": "0.5"})
    with process:
        yield process
    assert process.proc is not None and process.proc.returncode == 0, process.log()


def _run(collector: CollectorProcess, fake: FakeLLMServer, program: str, *args: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")} | {
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": "test-key",
        "TRAJOTEL_ENDPOINT": collector.http_endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    done = subprocess.run(
        [str(BIN / "opentelemetry-instrument"), sys.executable, str(PROGRAMS / program), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert "Failed to export" not in done.stderr, done.stderr
    return done.stdout.splitlines()


def _only_trajectory(collector: CollectorProcess) -> Trajectory:
    rows = _wait_for(
        lambda: collector.query("SELECT trajectory_id FROM trajectories WHERE status = 'complete'"),
        what="a complete trajectory",
    )
    assert len(rows) == 1, rows
    return Trajectory.from_dict(
        json.loads(collector.api("GET", f"/v1/trajectory?id={rows[0]['trajectory_id']}"))
    )


def _check(trajectory: Trajectory, fake: FakeLLMServer, lines: list[str]) -> None:
    assert f"ANSWER {ANSWER}" in lines
    check_trajectory(trajectory, fake.requests)
    assert len(trajectory.turns) == 3
    # The tools ran in the program; their results reach the trajectory through the next input.
    ran = [line.split(" ", 2)[1:] for line in lines if line.startswith("TOOL ")]
    calls = [call for turn in trajectory.turns for call in turn.tool_calls]
    # The programs send each result as a JSON string, which is what the trajectory keeps.
    assert [(c.id, c.result) for c in calls] == [(call_id, result) for call_id, result in ran]
    assert {c.result_source for c in calls} == {"next_input"}


@pytest.mark.parametrize(
    "args",
    [(), ("--stream",), ("--async",), ("--async", "--stream")],
    ids=["sync", "stream", "async", "async-stream"],
)
def test_plain_openai_loop_is_one_trajectory(
    collector: CollectorProcess, fake_llm: FakeLLMServer, args: tuple[str, ...]
) -> None:
    lines = _run(collector, fake_llm, "openai_loop.py", *args)
    trajectory = _only_trajectory(collector)
    _check(trajectory, fake_llm, lines)
    assert {turn.provider for turn in trajectory.turns} == {"openai"}


@pytest.mark.parametrize("args", [(), ("--stream",)], ids=["create", "stream"])
def test_plain_anthropic_loop_is_one_trajectory(
    collector: CollectorProcess, fake_llm: FakeLLMServer, args: tuple[str, ...]
) -> None:
    base_url = f"http://{fake_llm.host}:{fake_llm.port}"
    lines = _run(collector, fake_llm, "anthropic_loop.py", base_url, *args)
    trajectory = _only_trajectory(collector)
    _check(trajectory, fake_llm, lines)
    assert {turn.provider for turn in trajectory.turns} == {"anthropic"}
    # Input tokens count the cache the conventions' way (the fake server splits the prompt).
    for turn in trajectory.turns:
        cached = (turn.usage.cache_read_input_tokens or 0) + (turn.usage.cache_write_input_tokens or 0)
        assert cached and turn.usage.input_tokens > cached
