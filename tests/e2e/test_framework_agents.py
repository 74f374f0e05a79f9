"""Framework agents with no trajotel code, as users run them: ``opentelemetry-instrument`` on a
LangGraph and a smolagents agent script, a real ``trajotel collector``, the fake LLM server.

Each run must become exactly one stored trajectory whose turns are the model calls the server
saw (inputs as sent, outputs as answered) and whose tool calls carry the tools' real returns.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from trajotel.testing.collector_process import CollectorProcess
from trajotel.testing.fake_llm import FakeLLMServer, Step

from tests.support.agent_runs import (
    OPENTELEMETRY_INSTRUMENT,
    agent_env,
    only_trajectory,
    run_agent,
)
from tests.support.trajectory_match import check_trajectory

AGENTS = Path(__file__).resolve().parent / "agents"
TASK = "What is the weather in Paris, and what is 21 + 21?"
ANSWER = "It is sunny and 22 C in Paris, and 21 + 21 = 42."
SCENARIOS = {
    "fake-smol": [
        Step.tool("get_weather", {"city": "Paris"}),
        Step.tool("add", {"a": 21, "b": 21}),
        Step.tool("final_answer", {"answer": ANSWER}),
    ]
}


@pytest.fixture
def fake_llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(scenarios=SCENARIOS) as server:
        yield server


def _run(script: str, collector: CollectorProcess, fake: FakeLLMServer, *args: str) -> list[str]:
    command = [OPENTELEMETRY_INSTRUMENT, sys.executable, str(AGENTS / script), *args]
    return run_agent(command, agent_env(collector, fake)).stdout.splitlines()


def _tool_results(lines: list[str]) -> list[Any]:
    return [json.loads(line[len("TOOL_RESULT ") :]) for line in lines if line.startswith("TOOL_RESULT ")]


@pytest.mark.parametrize("streamed", [False, True], ids=["invoke", "stream"])
def test_langgraph_react_agent_is_one_trajectory(
    collector: CollectorProcess, fake_llm: FakeLLMServer, streamed: bool
) -> None:
    lines = _run("langgraph_react_agent.py", collector, fake_llm, *(["--stream"] if streamed else []))
    assert f"ANSWER {ANSWER}" in lines
    trajectory = only_trajectory(collector)
    assert trajectory.agent_name == "weather-agent" and trajectory.task == TASK
    tool_results = _tool_results(lines)
    assert tool_results == [{"city": "Paris", "sky": "sunny", "celsius": 22}, 42]
    check_trajectory(trajectory, fake_llm.requests, tool_results)
    assert len(trajectory.turns) == 3
    # One root, three model calls, two tools: nothing doubled.
    assert trajectory.span_count == 1 + 3 + 2


def test_smolagents_tool_calling_agent_is_one_trajectory(
    collector: CollectorProcess, fake_llm: FakeLLMServer
) -> None:
    lines = _run("smolagents_tool_calling_agent.py", collector, fake_llm)
    assert f"ANSWER {ANSWER}" in lines
    trajectory = only_trajectory(collector)
    assert trajectory.agent_name == "ToolCallingAgent" and trajectory.task == TASK
    tool_results = _tool_results(lines)
    assert tool_results == ["sunny, 22 C in Paris", 42, ANSWER]
    check_trajectory(trajectory, fake_llm.requests, tool_results)
    # smolagents sends tool results back as user text ("Observation: ..."), not as tool messages.
    last_input = trajectory.turns[-1].input_messages
    assert not [m for m in last_input if m.role == "tool"]
    assert trajectory.span_count == 1 + 3 + 3


_PROBE = """
from langchain_core.tools import base
from langgraph.pregel.main import Pregel
from mcp.client.session import ClientSession
from smolagents.agents import MultiStepAgent
patched = {
    "trajotel_langchain": base.BaseTool.run, "trajotel_langgraph": Pregel.invoke,
    "trajotel_mcp": ClientSession.call_tool, "trajotel_smolagents": MultiStepAgent.run,
}
print(sorted(name for name, f in patched.items() if hasattr(f, "__wrapped__")))
"""


@pytest.mark.parametrize("disabled", ["", "trajotel_langgraph,trajotel_mcp"])
def test_entry_points_load_and_can_be_disabled(disabled: str) -> None:
    env = {**os.environ, "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": disabled, "OTEL_TRACES_EXPORTER": "none"}
    done = subprocess.run(
        [OPENTELEMETRY_INSTRUMENT, sys.executable, "-c", _PROBE],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    expected = {"trajotel_langchain", "trajotel_langgraph", "trajotel_mcp", "trajotel_smolagents"}
    assert json.loads(done.stdout.strip().replace("'", '"')) == sorted(expected - set(disabled.split(",")))
