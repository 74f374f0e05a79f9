"""Plain openai and anthropic tool loops, no trajotel code and no root span, run under
``opentelemetry-instrument`` against a real collector and the fake LLM server.

Each model call is its own trace; the collector threads them into one trajectory by message
history, whose turns must be exactly the calls the server saw and answered, with the tools'
results read from the next call's input.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from trajotel.assemble.model import Trajectory
from trajotel.testing.collector_process import CollectorProcess
from trajotel.testing.fake_llm import FakeLLMServer

from tests.support.agent_runs import OPENTELEMETRY_INSTRUMENT, agent_env, only_trajectory, run_agent
from tests.support.trajectory_match import check_trajectory

PROGRAMS = Path(__file__).resolve().parent / "programs"
ANSWER = "It is sunny and 22 C in Paris, and 21 + 21 = 42."


def _run(collector: CollectorProcess, fake: FakeLLMServer, program: str, *args: str) -> list[str]:
    command = [OPENTELEMETRY_INSTRUMENT, sys.executable, str(PROGRAMS / program), *args]
    return run_agent(command, agent_env(collector, fake)).stdout.splitlines()


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
    trajectory = only_trajectory(collector)
    _check(trajectory, fake_llm, lines)
    assert {turn.provider for turn in trajectory.turns} == {"openai"}


@pytest.mark.parametrize("args", [(), ("--stream",)], ids=["create", "stream"])
def test_plain_anthropic_loop_is_one_trajectory(
    collector: CollectorProcess, fake_llm: FakeLLMServer, args: tuple[str, ...]
) -> None:
    base_url = f"http://{fake_llm.host}:{fake_llm.port}"
    lines = _run(collector, fake_llm, "anthropic_loop.py", base_url, *args)
    trajectory = only_trajectory(collector)
    _check(trajectory, fake_llm, lines)
    assert {turn.provider for turn in trajectory.turns} == {"anthropic"}
    # Input tokens count the cache the conventions' way (the fake server splits the prompt).
    for turn in trajectory.turns:
        cached = (turn.usage.cache_read_input_tokens or 0) + (turn.usage.cache_write_input_tokens or 0)
        assert cached and turn.usage.input_tokens > cached
