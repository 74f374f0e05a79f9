"""Fixtures of the end-to-end tests: a fake LLM server and a real collector process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
