"""trajotel beside another OpenTelemetry instrumentation of the openai SDK, as users run it.

A plain openai tool loop runs under ``opentelemetry-instrument`` with trajotel's instrumentor and
one peer's (official openai-v2, OpenLLMetry, OpenInference; content capture on for the peer) both
loaded, exporting to a real collector. Every model call then has two LLM spans; the stored
trajectory must still have exactly one turn per call the fake server received.

The peers live in overlay venvs built by ``bench/peers.py`` (see there why they cannot share the
project's venv); the fixture builds them from PyPI on first use, so a missing peer fails here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from trajotel.testing.collector_process import CollectorProcess
from trajotel.testing.fake_llm import FakeLLMServer

REPO = Path(__file__).resolve().parents[2]
AGENT = Path(__file__).resolve().parent / "agents" / "coexist_openai_loop.py"
PEER_NAMES = ("openai-v2", "openllmetry", "openinference")
TRAJOTEL_SCOPE_PREFIX = "trajotel."


@pytest.fixture(scope="module")
def peers() -> dict[str, Any]:
    built = subprocess.run(
        [sys.executable, str(REPO / "bench" / "peers.py"), "--json", *PEER_NAMES],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, f"cannot build the peer venvs:\n{built.stderr}"
    result: dict[str, Any] = json.loads(built.stdout)
    return result


@pytest.fixture
def fake_llm() -> Any:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def collector(tmp_path: Path) -> Any:
    process = CollectorProcess(tmp_path / "data", env={"TRAJOTEL_ASSEMBLE_IDLE_TIMEOUT_S": "0.5"})
    with process:
        yield process
    assert process.proc is not None and process.proc.returncode == 0, process.log()


def _wait_for(predicate: Any, timeout_s: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _run_agent(peer: dict[str, Any], collector: CollectorProcess, fake: FakeLLMServer) -> str:
    env = {
        **os.environ,
        **peer["content_env"],
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": "test-key",
        "TRAJOTEL_ENDPOINT": collector.http_endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        # trajotel's own content mode, which the official peer reads too.
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY",
    }
    for name in (
        "OTEL_TRACES_EXPORTER",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS",
    ):
        env.pop(name, None)
    done = subprocess.run(
        [*peer["instrument"], peer["python"], str(AGENT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Failed to export" not in done.stderr, done.stderr
    assert "ANSWER: It is sunny" in done.stdout, done.stdout
    return done.stderr


@pytest.mark.parametrize("peer_name", PEER_NAMES)
def test_one_turn_per_model_call_with_a_peer_instrumentation(
    peer_name: str, peers: dict[str, Any], collector: CollectorProcess, fake_llm: FakeLLMServer
) -> None:
    _run_agent(peers[peer_name], collector, fake_llm)
    sent = [r for r in fake_llm.requests if r["path"].endswith("/chat/completions")]
    assert len(sent) == 3

    rows = _wait_for(
        lambda: collector.query("SELECT trajectory_id FROM trajectories WHERE status = 'complete'"),
        what="a complete trajectory",
    )
    # Both instrumentations really ran: the peer's LLM spans are stored beside trajotel's.
    scopes = collector.query("SELECT ScopeName AS scope, count() AS n FROM spans GROUP BY ScopeName")
    peer_spans = sum(int(r["n"]) for r in scopes if not r["scope"].startswith(TRAJOTEL_SCOPE_PREFIX))
    assert peer_spans >= len(sent), scopes

    assert len(rows) == 1, rows
    trajectory = json.loads(collector.api("GET", f"/v1/trajectory?id={rows[0]['trajectory_id']}"))
    from trajotel.assemble.model import Trajectory

    model = Trajectory.from_dict(trajectory)
    assert len(model.turns) == len(sent), [t.provider for t in model.turns]
    assert [c.name for t in model.turns for c in t.tool_calls] == ["get_weather", "add"]
