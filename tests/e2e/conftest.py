"""Fixtures of the end-to-end tests: a fake LLM server and a real collector process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from trajotel.testing.collector_process import CollectorProcess
from trajotel.testing.fake_llm import FakeLLMServer

from tests.support.agent_runs import COLLECTOR_ENV


@pytest.fixture
def fake_llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[CollectorProcess]:
    process = CollectorProcess(tmp_path / "data", env=COLLECTOR_ENV)
    with process:
        yield process
    assert process.proc is not None and process.proc.returncode == 0, process.log()


REPO = Path(__file__).resolve().parents[2]
PEER_NAMES = ("openai-v2", "openllmetry", "openinference")


@pytest.fixture(scope="session")
def peers() -> dict[str, Any]:
    """Other instrumentations of the openai SDK (official openai-v2, OpenLLMetry, OpenInference),
    each in an overlay venv built by ``bench/peers.py`` from PyPI on first use (see there why they
    cannot share the project's venv): name -> its python, ``opentelemetry-instrument`` command
    and the environment that turns its content capture on. A peer that cannot be built fails."""
    built = subprocess.run(
        [sys.executable, str(REPO / "bench" / "peers.py"), "--json", *PEER_NAMES],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, f"cannot build the peer venvs:\n{built.stderr}"
    result: dict[str, Any] = json.loads(built.stdout)
    return result
