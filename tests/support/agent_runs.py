"""Running agent programs as users do (a subprocess, usually under ``opentelemetry-instrument``)
against a collector process and the fake LLM server, then reading back what was stored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from trajotel.assemble.model import Trajectory
from trajotel.testing.collector_process import CollectorProcess
from trajotel.testing.fake_llm import FakeLLMServer

T = TypeVar("T")

BIN = Path(sys.executable).parent
OPENTELEMETRY_INSTRUMENT = str(BIN / "opentelemetry-instrument")
# Collector settings for tests: trajectories complete half a second after their last span.
COLLECTOR_ENV = {"TRAJOTEL_ASSEMBLE_IDLE_TIMEOUT_S": "0.5"}


def wait_for(predicate: Callable[[], T], timeout_s: float = 60.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def agent_env(collector: CollectorProcess, fake: FakeLLMServer, **extra: str) -> dict[str, str]:
    """The agent's environment: the caller's, minus any OpenTelemetry or trajotel setting (the
    run must not depend on the shell it was started from), pointed at ``fake`` and ``collector``."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRAJOTEL_"))}
    return inherited | {
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": "test-key",
        "TRAJOTEL_ENDPOINT": collector.http_endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        **extra,
    }


def run_agent(
    command: Sequence[str], env: Mapping[str, str], timeout_s: float = 180.0
) -> subprocess.CompletedProcess[str]:
    """Run an agent program; it must exit 0 and must have delivered its spans."""
    done = subprocess.run(list(command), env=dict(env), capture_output=True, text=True, timeout=timeout_s)
    assert done.returncode == 0, done.stderr
    assert "Failed to export" not in done.stderr, done.stderr
    return done


def only_trajectory(collector: CollectorProcess) -> Trajectory:
    """The one complete trajectory in the store (waits for it; fails if there are several)."""
    rows = wait_for(
        lambda: collector.query("SELECT trajectory_id FROM trajectories WHERE status = 'complete'"),
        what="a complete trajectory",
    )
    assert len(rows) == 1, rows
    return Trajectory.from_dict(
        json.loads(collector.api("GET", f"/v1/trajectory?id={rows[0]['trajectory_id']}"))
    )
