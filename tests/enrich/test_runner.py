"""The runner on a store filled by real agent runs: what needs a stage, re-runs on a newer
trajectory version or stage version (and only then), failures recorded and retried without
blocking others, the heuristic stage's outcome and score."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from trajotel.assemble.model import Trajectory
from trajotel.cli.main import main
from trajotel.config import EnrichConfig, load_config
from trajotel.enrich import registry
from trajotel.enrich.heuristic import HeuristicStage
from trajotel.enrich.runner import Runner
from trajotel.enrich.stage import BaseStage, StageResult
from trajotel.errors import ConfigError
from trajotel.store import Store
from trajotel.store.edits import Patch, delete_trajectory, patch_trajectory
from trajotel.store.enrichments import Needs, pending
from trajotel.store.trajectories import read_trajectory, write_trajectories
from trajotel.testing import FakeLLMServer

from tests.enrich.conftest import fill, rows, trajectory_ids

TASK = "Weather in Paris, and 21 + 21?"


def _enriched(runner: Runner) -> dict[str, int]:
    return {report.stage: report.enriched for report in runner.run_pending(100)}


def test_stages_run_once_per_trajectory_version_and_stage_version(
    store: Store, tmp_path: Path, fake: FakeLLMServer
) -> None:
    fill(store, tmp_path, fake, [(TASK, "default"), (TASK, "fake-error")])
    stage = HeuristicStage()
    runner = Runner(store, [stage])
    assert _enriched(runner) == {"heuristic": 2}
    assert _enriched(runner) == {"heuristic": 0}  # same versions: nothing to do

    # A newer trajectory version (what a late span makes): only that trajectory runs again.
    first, second = trajectory_ids(store)
    newer = read_trajectory(store, first)
    assert newer is not None
    newer.version += 1
    write_trajectories(store, [(newer, "late-span")], set())
    assert _enriched(runner) == {"heuristic": 1}
    assert [(r["TrajectoryId"], r["TrajectoryVersion"]) for r in rows(store, "heuristic")][-1] == (first, 2)

    # A new stage version: every trajectory runs again; the old rows stay.
    stage.version = "2"
    assert _enriched(runner) == {"heuristic": 2}
    assert _enriched(runner) == {"heuristic": 0}
    assert len(rows(store, "heuristic")) == 5
    latest = store.query(
        "SELECT trajectory_id, stage_version, trajectory_version FROM enrichments_latest"
    ).rows
    assert sorted(latest) == sorted([[first, "2", 2], [second, "2", 1]])

    # --force runs whether needed or not.
    forced = runner.run_pending(100, keys=[("default", second)], force=True)
    assert [r.enriched for r in forced] == [1]


def test_heuristic_outcome_and_score_follow_the_run(
    store: Store, tmp_path: Path, fake: FakeLLMServer
) -> None:
    fill(store, tmp_path, fake, [(TASK, "default"), (TASK, "fake-error")])
    fill(store, tmp_path, fake, [("cut off", "default")], max_turns=1)  # asked for a tool, stopped
    Runner(store, [HeuristicStage()]).run_pending(100)
    found = {
        row["Label"]: row
        for row in store.query(
            "SELECT e.Label AS Label, e.Score AS Score, e.Result AS Result, t.task AS task "
            "FROM enrichments AS e JOIN trajectories AS t ON t.trajectory_id = e.TrajectoryId"
        ).dicts()
    }
    assert set(found) == {"success", "failure", "partial"}
    assert found["success"]["Score"] > found["partial"]["Score"] > found["failure"]["Score"]
    assert found["partial"]["task"] == "cut off"
    assert '"tool_calls":1' in found["partial"]["Result"].replace(" ", "")


class Flaky(BaseStage):
    """Fails for the trajectories it is told to; the others succeed."""

    name = "flaky"

    def __init__(self, failing: set[str]) -> None:
        self.failing = failing
        self.seen: list[str] = []

    def run(self, batch: Sequence[Trajectory]) -> list[StageResult]:
        self.seen += [t.id for t in batch]
        if any(t.id in self.failing for t in batch):
            raise RuntimeError("the stage broke")
        return [StageResult(t.id, {"ok": True}, score=1.0) for t in batch]


def test_failures_are_recorded_retried_later_and_never_block_others(
    store: Store, tmp_path: Path, fake: FakeLLMServer
) -> None:
    fill(store, tmp_path, fake, [(TASK, "default"), (TASK, "fake-error")])
    bad = trajectory_ids(store)[1]
    stage = Flaky({bad})
    stage.batch_size = 1
    runner = Runner(store, [stage], max_attempts=2, retry_after_s=3600)
    [report] = runner.run_pending(100)
    assert (report.enriched, report.failed) == (1, 1)
    assert "RuntimeError: the stage broke" in report.errors[0]
    failed = [r for r in rows(store, "flaky") if r["Error"]]
    assert [r["TrajectoryId"] for r in failed] == [bad]

    stage.seen.clear()
    runner.run_pending(100)
    assert stage.seen == []  # not before retry_after_s
    runner.retry_after_s = 0
    runner.run_pending(100)
    runner.run_pending(100)
    assert stage.seen == [bad]  # retried once more, then max_attempts (2) reached
    stage.failing.clear()
    [manual] = runner.run_pending(100, keys=[("default", bad)], manual=True)
    assert manual.enriched == 1  # a person asking retries at once, whatever the attempts

    class Forgetful(BaseStage):
        name = "forgetful"

        def run(self, batch: Sequence[Trajectory]) -> list[StageResult]:
            return [StageResult(batch[0].id, {})]

    [report] = Runner(store, [Forgetful()]).run_pending(100)
    assert (report.enriched, report.failed) == (1, 1)
    assert "returned no result for this trajectory" in report.errors[0]


class Reader(BaseStage):
    """Uses the flaky stage's results (as keywords and embeddings use the judge's summary)."""

    name = "reader"
    after = ("flaky",)

    def __init__(self) -> None:
        self.seen: list[str] = []

    def run(self, batch: Sequence[Trajectory]) -> list[StageResult]:
        self.seen += [t.id for t in batch]
        return [StageResult(t.id, {}) for t in batch]


def test_a_stage_waits_for_the_stages_it_reads_while_they_run_too(
    store: Store, tmp_path: Path, fake: FakeLLMServer
) -> None:
    fill(store, tmp_path, fake, [(TASK, "default"), (TASK, "fake-error")])
    good, bad = trajectory_ids(store)
    flaky, reader = Flaky({bad}), Reader()
    flaky.batch_size = 1
    # Listed first, the reader still waits for the flaky stage's result of each trajectory.
    runner = Runner(store, [reader, flaky], max_attempts=2, retry_after_s=0)
    runner.run_pending(100)
    assert reader.seen == []
    runner.run_pending(100)  # the flaky stage fails `bad` a second and last time (after the reader)
    assert reader.seen == [good]  # the failed one waited for its retry
    runner.run_pending(100)
    assert reader.seen == [good, bad]  # given up on: the reader takes it with what there is

    # When a person asks, or without the stage it reads, it does not wait.
    def newcomer() -> list[str]:
        fill(store, tmp_path, fake, [(TASK, "default")])
        return sorted(set(trajectory_ids(store)) - set(reader.seen))

    asked = newcomer()
    Runner(store, [reader, Flaky(set())]).run_pending(100, keys=[("default", i) for i in asked], manual=True)
    assert reader.seen[2:] == asked
    alone = newcomer()
    Runner(store, [reader]).run_pending(100)
    assert reader.seen[3:] == alone


def test_stages_come_from_entry_points_in_the_configured_order() -> None:
    config = load_config(environ={"TRAJOTEL_ENRICH_STAGES": " heuristic , heuristic,"})
    assert registry.enabled_names(config.enrich) == ["heuristic"]
    assert {"heuristic", "judge", "group"} <= set(registry.available())
    with pytest.raises(ConfigError, match="no enrichment stage named 'nope'") as caught:
        registry.load(EnrichConfig(stages="heuristic,nope"), None)
    assert "heuristic" in (caught.value.hint or "")
    with pytest.raises(ConfigError, match=r"\[enrich.judge\] model is empty"):
        registry.load(EnrichConfig(stages="judge"), None)


def test_nested_config_sections_from_file_and_environment(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[enrich]\nstages = "heuristic,judge"\n[enrich.judge]\nmodel = "m1"\nmax_retries = 5\n')
    config = load_config(
        path, environ={"TRAJOTEL_ENRICH_JUDGE_MODEL": "m2", "TRAJOTEL_ENRICH_GROUP_MIN_SIZE": "3"}
    )
    assert (config.enrich.judge.model, config.enrich.judge.max_retries) == ("m2", 5)
    assert config.enrich.group.min_size == 3
    path.write_text("[enrich.judge]\nmodle = 1\n")
    with pytest.raises(ConfigError, match=r"\[enrich\]\.judge\.modle: unknown setting"):
        load_config(path, environ={})


def test_the_enrich_command_opens_the_store_when_no_collector_runs(
    store: Store, tmp_path: Path, fake: FakeLLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(store, tmp_path, fake, [(TASK, "default"), (TASK, "fake-error")])
    config = tmp_path / "c.toml"
    config.write_text(f'[store]\ndatabase = "{store.database}"\n')
    where = [
        "--config",
        str(config),
        "--clickhouse",
        f"chdb://{store.url.path}",
        "--data",
        str(tmp_path / "none"),
    ]
    assert main(["enrich", *where, "--json"]) == 0  # [enrich] stages: heuristic by default
    report = json.loads(capsys.readouterr().out)
    assert len(report["trajectories"]) == 2 and report["stages"][0]["enriched"] == 2
    assert main(["enrich", *where, "--outcome", "failure", "--force", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["trajectories"] == trajectory_ids(store)[1:] and report["stages"][0]["enriched"] == 1
    assert main(["enrich", *where, "--stage", "judge"]) == 1
    assert "[enrich.judge] model is empty" in capsys.readouterr().err


def test_work_is_the_live_finished_trajectories_whatever_people_edited(
    store: Store, tmp_path: Path, fake: FakeLLMServer
) -> None:
    fill(store, tmp_path, fake, [(TASK, "default"), (TASK, "fake-error"), (TASK, "default")])
    kept, edited, deleted = trajectory_ids(store)
    patch_trajectory(store, "default", edited, Patch(tags_add=("reviewed",), outcome_label="success"))
    delete_trajectory(store, "default", deleted)
    stage = HeuristicStage()
    assert sorted(pending(store, Needs(stage.name, stage.version), limit=10)) == sorted(
        [("default", kept), ("default", edited)]
    )
    assert _enriched(Runner(store, [stage])) == {"heuristic": 2}
