"""A real collector serving known past runs (tests/learn/runs.py), and a client of it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import trajotel
from trajotel.testing.collector_process import CollectorProcess, free_port

from tests.support.agent_runs import COLLECTOR_ENV

RUNS_SCRIPT = Path(__file__).with_name("runs.py")


@pytest.fixture(scope="session")
def learn_collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorProcess]:
    data = tmp_path_factory.mktemp("learn") / "data"
    # Written by a process of its own: chdb opens one store per process, and the collector's next.
    seeded = subprocess.run(
        [sys.executable, str(RUNS_SCRIPT), str(data)], capture_output=True, text=True, timeout=300
    )
    assert seeded.returncode == 0, seeded.stderr
    with CollectorProcess(data, env=COLLECTOR_ENV) as process:
        yield process
    assert process.proc is not None and process.proc.returncode == 0, process.log()


@pytest.fixture(scope="session")
def client(learn_collector: CollectorProcess) -> trajotel.Client:
    return trajotel.Client(learn_collector.http_endpoint)


@pytest.fixture
def unreachable() -> trajotel.Client:
    """A client of a port nothing listens on."""
    return trajotel.Client(f"http://127.0.0.1:{free_port()}", timeout_s=5)
