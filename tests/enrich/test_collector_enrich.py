"""End to end: a collector process with enrichment on, a real agent program under
``opentelemetry-instrument`` against the fake LLM server (which also plays the judge): the stored
trajectory gets an outcome, a score, a summary, decisions and entities; the process route and
``trajotel enrich`` (through the collector) run stages on demand."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.parse
from pathlib import Path

import pytest

from trajotel.testing import FakeLLMServer
from trajotel.testing.collector_process import CollectorProcess

from tests.enrich.conftest import JUDGEMENT
from tests.support.agent_runs import (
    BIN,
    COLLECTOR_ENV,
    OPENTELEMETRY_INSTRUMENT,
    agent_env,
    run_agent,
    wait_for,
)

PROGRAM = Path(__file__).resolve().parents[1] / "e2e" / "programs" / "openai_loop.py"


def _enrich(data: Path, *args: str) -> dict:
    done = subprocess.run(
        [str(BIN / "trajotel"), "enrich", "--data", str(data), "--json", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_collector_enriches_real_agent_runs_and_on_demand(tmp_path: Path, fake: FakeLLMServer) -> None:
    data = tmp_path / "data"
    env = {
        **COLLECTOR_ENV,
        "TRAJOTEL_ENRICH_STAGES": "heuristic,judge",
        "TRAJOTEL_ENRICH_POLL_INTERVAL_S": "0.2",
        "TRAJOTEL_ENRICH_JUDGE_MODEL": "judge-good",
        "TRAJOTEL_ENRICH_JUDGE_BASE_URL": fake.base_url,
        "TRAJOTEL_ENRICH_JUDGE_INPUT_PRICE_PER_MTOK": "3",
    }
    with CollectorProcess(data, env=env) as collector:
        run_agent([OPENTELEMETRY_INSTRUMENT, sys.executable, str(PROGRAM)], agent_env(collector, fake))
        # Each stage picks its own work in a pass: a run that completed after the heuristic
        # stage looked may be judged in this pass and get its heuristic outcome in the next.
        [scores] = wait_for(
            lambda: collector.query(
                "SELECT * FROM trajectory_scores WHERE judge_score IS NOT NULL AND heuristic_outcome != ''"
            ),
            what="the judge's score and the heuristic outcome",
        )
        assert (scores["score"], scores["score_source"], scores["summary"]) == (
            0.8,
            "judge",
            JUDGEMENT["summary"],
        )
        assert (scores["heuristic_outcome"], scores["judge_outcome"]) == ("success", "success")
        tid = scores["trajectory_id"]
        [decision] = collector.query("SELECT * FROM decisions")
        assert (decision["trajectory_id"], decision["type"]) == (tid, "tool_selection")
        [entity] = collector.query("SELECT * FROM entities")
        assert (entity["name"], entity["importance"]) == ("Paris", 0.9)
        [judged] = collector.query("SELECT * FROM enrichments WHERE Stage = 'judge'")
        assert float(judged["CostUsd"]) == pytest.approx(int(judged["InputTokens"]) * 3 / 1e6)
        assert json.loads(collector.api("GET", "/v1/status"))["enrichments_written"] == 2

        # The process route: up to date -> nothing; forced -> judged again.
        path = f"/v1/trajectories/{urllib.parse.quote(tid, safe='')}/process"
        report = json.loads(collector.api("POST", path, {}))
        assert [(s["stage"], s["enriched"]) for s in report["stages"]] == [("heuristic", 0), ("judge", 0)]
        report = json.loads(collector.api("POST", path, {"stages": ["judge"], "force": True}))
        assert report["trajectories"] == [tid] and report["stages"][0]["enriched"] == 1
        for bad_path, body, status in [
            ("/v1/trajectories/nope/process", {}, 404),
            (path, {"stages": "judge"}, 400),
            (path, {"forse": True}, 400),
        ]:
            with pytest.raises(urllib.error.HTTPError) as caught:
                collector.api("POST", bad_path, body)
            assert caught.value.code == status

        # The CLI while the collector holds the store goes through it.
        report = _enrich(data, "--stage", "heuristic", "--force")
        assert report["trajectories"] == [tid] and report["stages"][0]["enriched"] == 1
        assert len(collector.query("SELECT * FROM enrichments WHERE Stage = 'heuristic'")) == 2
    assert collector.proc is not None and collector.proc.returncode == 0, collector.log()
