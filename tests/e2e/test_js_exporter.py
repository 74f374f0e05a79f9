"""A Node.js agent that records its GenAI spans by hand with the OpenTelemetry JS SDK and exports
them as OTLP/HTTP JSON yields the same trajectory as the Python program under trajotel's
instrumentation (issue 4, acceptance (e)).

``js/agent.mjs`` is ``programs/openai_loop.py`` in JavaScript: same prompts, tools and scenario
on the fake server, through the official ``openai`` npm client. It wraps the loop in an
``invoke_agent`` root and records each tool run as an ``execute_tool`` span, as a JS user
following the conventions would; the Python program has neither, so the two trajectories are
bounded differently (root span vs message-history threading) and get their tool results from
different places (tool spans vs the next call's input). What must be equal is the run itself:
messages, tool calls (ids, names, arguments), tool results and their order.

The npm packages are installed with ``npm ci`` from the committed lock file once per session;
without node and npm the test fails (it is part of the acceptance, so it must not skip).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from trajotel.assemble.model import Trajectory, Usage
from trajotel.testing.collector_process import CollectorProcess
from trajotel.testing.fake_llm import FakeLLMServer

from tests.support.agent_runs import (
    COLLECTOR_ENV,
    OPENTELEMETRY_INSTRUMENT,
    agent_env,
    only_trajectory,
    run_agent,
)
from tests.support.trajectory_match import check_trajectory, from_semconv

E2E = Path(__file__).resolve().parent
JS_DIR = E2E / "js"
PYTHON_PROGRAM = E2E / "programs" / "openai_loop.py"
ANSWER = "It is sunny and 22 C in Paris, and 21 + 21 = 42."
NPM_CI_TIMEOUT_S = 600  # a cold npm cache downloads ~15 packages; a warm one takes seconds


@pytest.fixture(scope="session")
def node_agent() -> list[str]:
    """The command that runs the JS agent, after ``npm ci`` installed its pinned packages."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("node and npm must be on PATH (Debian: apt-get install nodejs npm)", pytrace=False)
    installed = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=NPM_CI_TIMEOUT_S,
    )
    assert installed.returncode == 0, f"npm ci in {JS_DIR} failed:\n{installed.stderr}"
    return [node, str(JS_DIR / "agent.mjs")]


@pytest.fixture(scope="module")
def python_trajectory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trajectory]:
    """The reference: openai_loop.py under ``opentelemetry-instrument``, in a store of its own
    (one store per run: the assembler must not thread the two runs' calls together)."""
    data = tmp_path_factory.mktemp("python-reference") / "data"
    with FakeLLMServer() as fake, CollectorProcess(data, env=COLLECTOR_ENV) as collector:
        command = [OPENTELEMETRY_INSTRUMENT, sys.executable, str(PYTHON_PROGRAM)]
        done = run_agent(command, agent_env(collector, fake))
        assert f"ANSWER {ANSWER}" in done.stdout.splitlines()
        trajectory = only_trajectory(collector)
        check_trajectory(trajectory, fake.requests)
        yield trajectory
    assert collector.proc is not None and collector.proc.returncode == 0, collector.log()


def _run_node_agent(command: list[str], collector: CollectorProcess, fake: FakeLLMServer) -> list[str]:
    done = run_agent(command, agent_env(collector, fake), timeout_s=120)
    # The SDK reports failed exports only through its diag logger, which the agent sends to stderr.
    assert not done.stderr.strip(), done.stderr
    return done.stdout.splitlines()


def _comparable(trajectory: Trajectory) -> list[tuple[Any, ...]]:
    """Each turn as (input, output, tool calls, finish reasons), free of what differs between two
    runs of the same task: tool-call ids (the server mints them at random) become their order of
    first appearance, and tool responses written as JSON text become JSON values (the programs
    serialize results with different spacing)."""
    aliases: dict[str, str] = {}

    def alias(call_id: str) -> str:
        return aliases.setdefault(call_id, f"call#{len(aliases)}")

    def value(raw: Any) -> Any:
        try:
            return json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            return raw

    def part(p: tuple[Any, ...]) -> tuple[Any, ...]:
        if p[0] == "tool_call":
            return ("tool_call", alias(p[1]), *p[2:])
        if p[0] == "tool_call_response":
            return ("tool_call_response", alias(p[1]), value(p[2]))
        return p

    def messages(stored: list[Any]) -> list[tuple[Any, ...]]:
        shaped = [from_semconv(m.to_semconv()) for m in stored]
        return [(role, tuple(part(p) for p in parts)) for role, parts in shaped]

    return [
        (
            messages(turn.input_messages),
            messages(turn.output_messages),
            [(alias(c.id), c.name, c.arguments, value(c.result), c.status) for c in turn.tool_calls],
            turn.finish_reasons,
        )
        for turn in trajectory.turns
    ]


def test_node_agent_over_otlp_json_yields_the_python_trajectory(
    node_agent: list[str],
    python_trajectory: Trajectory,
    collector: CollectorProcess,
    fake_llm: FakeLLMServer,
) -> None:
    lines = _run_node_agent(node_agent, collector, fake_llm)
    assert f"ANSWER {ANSWER}" in lines
    trajectory = only_trajectory(collector)

    # What the server saw and answered, turn by turn; each tool result is what the tool returned,
    # taken from its execute_tool span.
    ran = [line.split(" ", 2)[1:] for line in lines if line.startswith("TOOL ")]
    check_trajectory(trajectory, fake_llm.requests, tool_results=[json.loads(result) for _, result in ran])
    assert [c.id for t in trajectory.turns for c in t.tool_calls] == [call_id for call_id, _ in ran]

    # One trace bounded by the agent's root span; every span arrived with its kind and name.
    assert trajectory.agent_name == "weather-agent" and len(trajectory.trace_ids) == 1
    spans = collector.query("SELECT SpanName AS name, SpanKind AS kind FROM spans")
    assert sorted((s["name"], s["kind"]) for s in spans) == sorted(
        [("invoke_agent weather-agent", "Internal")]
        + [("chat default", "Client")] * 3
        + [("execute_tool get_weather", "Internal"), ("execute_tool add", "Internal")]
    )

    # Integer attributes survive OTLP/JSON: token counts are the ones the server reported.
    replies = [e["response"]["body"]["usage"] for e in fake_llm.requests if e.get("method") == "POST"]
    assert [turn.usage for turn in trajectory.turns] == [
        Usage(
            input_tokens=u["prompt_tokens"],
            output_tokens=u["completion_tokens"],
            cache_read_input_tokens=u["prompt_tokens_details"]["cached_tokens"],
            reasoning_output_tokens=u["completion_tokens_details"]["reasoning_tokens"],
        )
        for u in replies
    ]

    # The same run as the Python program's: messages, tool calls, results, order.
    assert _comparable(trajectory) == _comparable(python_trajectory)
    assert trajectory.tool_definitions == python_trajectory.tool_definitions
    assert trajectory.models == python_trajectory.models == ["default"]
