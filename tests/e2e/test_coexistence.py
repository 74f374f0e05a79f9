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
from pathlib import Path
from typing import Any

import pytest

from trajotel.testing.collector_process import CollectorProcess
from trajotel.testing.fake_llm import FakeLLMServer

from tests.e2e.conftest import PEER_NAMES
from tests.support.agent_runs import agent_env, run_agent, wait_for

AGENT = Path(__file__).resolve().parent / "agents" / "coexist_openai_loop.py"

TRAJOTEL_SCOPE_PREFIX = "trajotel."


def _run_agent(peer: dict[str, Any], collector: CollectorProcess, fake: FakeLLMServer) -> str:
    # trajotel's own content mode, which the official peer reads too.
    content = {**peer["content_env"], "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY"}
    env = agent_env(collector, fake, **content)
    done = run_agent([*peer["instrument"], peer["python"], str(AGENT)], env, timeout_s=120)
    assert "ANSWER: It is sunny" in done.stdout, done.stdout
    return done.stderr


@pytest.mark.parametrize("peer_name", PEER_NAMES)
def test_one_turn_per_model_call_with_a_peer_instrumentation(
    peer_name: str, peers: dict[str, Any], collector: CollectorProcess, fake_llm: FakeLLMServer
) -> None:
    _run_agent(peers[peer_name], collector, fake_llm)
    sent = [r for r in fake_llm.requests if r["path"].endswith("/chat/completions")]
    assert len(sent) == 3

    rows = wait_for(
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
