"""``trajotel.instrument()`` in a plain program (no opentelemetry-instrument): the SDK is set up to
export to the collector, installed instrumentors are on, disabled ones stay off."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from trajotel.testing.collector_process import CollectorProcess
from trajotel.testing.fake_llm import FakeLLMServer

from tests.support.agent_runs import agent_env, run_agent, wait_for

AGENT = """
import json, sys, openai, trajotel

active = trajotel.instrument()
assert trajotel.instrument() == active  # a second call changes nothing
print("ACTIVE", json.dumps(active))

client = openai.OpenAI(max_retries=0)
schema = {"type": "object"}
tools = [{"type": "function", "function": {"name": n, "parameters": schema}} for n in ("get_weather", "add")]
messages = [{"role": "user", "content": "Weather in Paris, and 21 + 21?"}]
with trajotel.trajectory(task=messages[0]["content"], agent="instrument-call-agent"):
    for _ in range(3):
        response = client.chat.completions.create(model="default", messages=messages, tools=tools)
        reply = response.choices[0].message
        messages.append(reply.model_dump(exclude_none=True))
        for call in reply.tool_calls or []:
            messages.append({"role": "tool", "tool_call_id": call.id, "content": "ok"})
print("ANSWER", reply.content)
"""


def _run(
    collector: CollectorProcess, fake: FakeLLMServer, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    return run_agent([sys.executable, "-c", AGENT], agent_env(collector, fake, **extra_env), timeout_s=120)


def _turn_counts(collector: CollectorProcess) -> list[dict[str, Any]]:
    return wait_for(
        lambda: collector.query("SELECT agent_name, turn_count FROM trajectories WHERE status = 'complete'"),
        what="a complete trajectory",
    )


def test_instrument_call_exports_to_the_collector(
    collector: CollectorProcess, fake_llm: FakeLLMServer
) -> None:
    done = _run(collector, fake_llm)
    active = json.loads(done.stdout.split("ACTIVE ", 1)[1].splitlines()[0])
    assert "trajotel_openai" in active and "trajotel_anthropic" in active
    assert _turn_counts(collector) == [{"agent_name": "instrument-call-agent", "turn_count": 3}]


@pytest.mark.parametrize(
    ("disabled", "turns"),
    # With only the openai instrumentor off, the HTTP catch-all still records each call.
    [("trajotel_openai", 3), ("trajotel_openai,trajotel_http", 0)],
)
def test_disabled_instrumentation_stays_off(
    collector: CollectorProcess, fake_llm: FakeLLMServer, disabled: str, turns: int
) -> None:
    done = _run(collector, fake_llm, OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=disabled)
    active = json.loads(done.stdout.split("ACTIVE ", 1)[1].splitlines()[0])
    assert not set(disabled.split(",")) & set(active)
    assert "trajotel_anthropic" in active
    # The trajectory root still arrives (the API is not an instrumentor).
    assert _turn_counts(collector) == [{"agent_name": "instrument-call-agent", "turn_count": turns}]
