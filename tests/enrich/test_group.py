"""Group-relative judging: trajectories of the same task judged together by the fake judge;
relative scores, ranks and advantages; a group judged again when a member arrives; lone runs wait."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trajotel.enrich.group import advantages, ranks
from trajotel.enrich.runner import from_config
from trajotel.store import Store
from trajotel.testing import FakeLLMServer

from tests.enrich.conftest import fill, judge_config, rows, trajectory_ids

TASK = "Weather in Paris, and 21 + 21?"


def test_runs_of_one_task_are_scored_relative_to_each_other(
    store: Store, tmp_path: Path, fake: FakeLLMServer
) -> None:
    fill(store, tmp_path, fake, [(TASK, "default"), (TASK, "fake-error"), ("Another task", "default")])
    config = judge_config(fake, "judge-good", stages="group")
    config.group.model = "group-2"  # scripted: candidate A 0.9, B 0.3
    config.group.max_size = 2
    runner = from_config(config, store)
    [report] = runner.run_pending(100)
    assert (report.enriched, report.failed) == (2, 0)
    first, second = trajectory_ids(store, TASK)
    judged = {r["TrajectoryId"]: json.loads(r["Result"]) for r in rows(store, "group")}
    assert set(judged) == {first, second}  # the lone "Another task" run waits for a sibling
    assert (judged[first]["score"], judged[first]["rank"]) == (0.9, 1)
    assert (judged[second]["score"], judged[second]["rank"]) == (0.3, 2)
    assert (judged[first]["advantage"], judged[second]["advantage"]) == pytest.approx((1.0, -1.0))
    assert judged[first]["members"] == [first, second] and judged[first]["group_size"] == 2
    [request] = [r for r in fake.requests if r["body"] and r["body"].get("model") == "group-2"]
    prompt = request["body"]["messages"][1]["content"]
    assert "## Candidate A" in prompt and "## Candidate B" in prompt and "Another task" not in prompt
    assert runner.run_pending(100)[0].enriched == 0  # nothing new

    # One more run of the task: it is judged with the newest other member (max_size 2).
    fill(store, tmp_path, fake, [(TASK, "default")])
    [report] = runner.run_pending(100)
    assert report.enriched == 2
    third = trajectory_ids(store, TASK)[-1]
    latest = json.loads(rows(store, "group")[-1]["Result"])
    assert set(latest["members"]) == {third, second}
    assert store.query(
        "SELECT group_score FROM trajectory_scores WHERE trajectory_id = {id:String}", {"id": third}
    ).rows


@pytest.mark.parametrize(
    ("scores", "expected_ranks"),
    [([0.5, 0.5], [1, 1]), ([0.1, 0.9, 0.5], [3, 1, 2]), ([1.0], [1])],
)
def test_ranks_and_advantages(scores: list[float], expected_ranks: list[int]) -> None:
    assert ranks(scores) == expected_ranks
    found = advantages(scores)
    assert sum(found) == pytest.approx(0.0)
    if len(set(scores)) > 1:
        assert sorted(range(len(scores)), key=found.__getitem__) == sorted(
            range(len(scores)), key=scores.__getitem__
        )
