"""Exports of real agent runs, as users run them: the example agent under opentelemetry-instrument
against the fake LLM server, a real collector process with a scheduled export, the CLI through
the running collector and against the store directly, and an import into another store.

Acceptance (issue 6): a scheduled export run twice with new runs in between yields exactly the
new trajectories the second time; export -> import -> export of the canonical format is
byte-identical."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
from pathlib import Path

import pytest

from trajotel.assemble.model import Trajectory
from trajotel.testing.collector_process import CollectorProcess
from trajotel.testing.fake_llm import FakeLLMServer

from tests.support.agent_runs import COLLECTOR_ENV, OPENTELEMETRY_INSTRUMENT, agent_env, run_agent, wait_for

REPO = Path(__file__).resolve().parents[2]


def _agent(collector: CollectorProcess, fake: FakeLLMServer) -> None:
    command = [OPENTELEMETRY_INSTRUMENT, sys.executable, str(REPO / "examples" / "weather_agent.py")]
    run_agent(command, agent_env(collector, fake), timeout_s=120)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "trajotel", *args], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done


def _runs(directory: Path) -> list[Path]:
    """The finished runs' manifests (written last: a run is complete once its manifest is there)."""
    return sorted(directory.glob("every-second-*.manifest.json")) if directory.exists() else []


def _trajectories(manifest: Path) -> list[Trajectory]:
    (data,) = json.loads(manifest.read_text())["files"]
    return [Trajectory.from_json(line) for line in (manifest.parent / data["path"]).read_text().splitlines()]


def test_scheduled_export_and_canonical_round_trip_of_real_runs(tmp_path: Path) -> None:
    config = tmp_path / "trajotel.toml"
    config.write_text(
        '[[export.schedules]]\nname = "every-second"\noptions = "--format trajotel --out runs"\n'
        "every_s = 0.5\n"
    )
    data = tmp_path / "data"
    runs = data / "exports" / "runs"  # a relative --out of a schedule lives under <data_dir>/exports
    collector = CollectorProcess(data, env=COLLECTOR_ENV, args=["--config", str(config)])
    with FakeLLMServer() as fake, collector:
        _agent(collector, fake)
        first = wait_for(lambda: _runs(runs), what="the first scheduled run")
        (a,) = _trajectories(first[0])
        assert a.status == "complete" and a.agent_name == "weather-agent" and len(a.turns) == 3

        _agent(collector, fake)
        second = wait_for(lambda: _runs(runs)[1:], what="the second scheduled run")
        (b,) = _trajectories(second[0])
        assert b.id != a.id and b.status == "complete"
        manifest = json.loads(second[0].read_text())
        assert manifest["counts"]["trajectories"] == 1 and manifest["watermark"]["exported_versions"] == 2
        time.sleep(1.5)  # more scheduled runs with nothing new write nothing
        assert len(_runs(runs)) == 2
        status = json.loads(collector.api("GET", "/v1/status"))
        assert status["scheduled_exports_run"] >= 3 and status["scheduled_exports_failed"] == 0

        # The command line goes through the running collector (it holds the embedded store).
        live = tmp_path / "live.jsonl"
        _cli("export", "--data", str(data), "--format", "trajotel", "--out", str(live))
        assert sorted(Trajectory.from_json(line).id for line in live.read_text().splitlines()) == sorted(
            [a.id, b.id]
        )
        again = _cli("import", str(live), "--data", str(data), "--json")
        assert json.loads(again.stdout)["existing"] == 2  # they are there already
        with pytest.raises(urllib.error.HTTPError) as refused:  # the collector's paths are its own
            collector.api("POST", "/v1/export", {"options": {"format": "trajotel", "out": "relative.jsonl"}})
        assert refused.value.code == 400 and "absolute path" in json.loads(refused.value.read())["error"]

    # With no collector the command line opens the store itself: the same bytes.
    direct = tmp_path / "direct.jsonl"
    _cli("export", "--data", str(data), "--format", "trajotel", "--out", str(direct))
    assert direct.read_bytes() == live.read_bytes()

    # Import into another data directory, export again: byte-identical.
    other = tmp_path / "other"  # a new data directory: the import creates its store
    imported = _cli("import", str(direct), "--data", str(other))
    assert "2 of 2 trajectories imported" in imported.stdout
    round_trip = tmp_path / "round-trip.jsonl"
    _cli("export", "--data", str(other), "--format", "trajotel", "--out", str(round_trip))
    assert round_trip.read_bytes() == direct.read_bytes()
