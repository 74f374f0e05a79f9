"""The batch reader exports use: the same trajectories as read_trajectory (people's edits, the
reward rule, deletion, newest versions), page by page, each once, filtered and grouped."""

from __future__ import annotations

import dataclasses

from trajotel.store import Store
from trajotel.store.edits import Patch, delete_trajectory, patch_trajectory
from trajotel.store.feedback import new_feedback, write_feedback
from trajotel.store.trajectories import read_trajectory
from trajotel.store.trajectory_query import TrajectoryFilter, count_trajectories, read_trajectory_pages

from tests.export.conftest import fill
from tests.export.synthetic import TASKS, trajectories, trajectory


def _all(store: Store, where: TrajectoryFilter | None = None, **options: object) -> list:
    return [
        item for page in read_trajectory_pages(store, where or TrajectoryFilter(), **options) for item in page
    ]  # type: ignore[arg-type]


def test_pages_read_what_read_trajectory_reads(store: Store) -> None:
    generated = fill(store, trajectories(23, full=True))
    # A newer version of one, people's edits of another, a human's reward for a third, one deleted.
    newer = dataclasses.replace(trajectory(3, full=True), version=9, task="rewritten task")
    fill(store, [newer])
    patch_trajectory(
        store,
        "default",
        generated[4].id,
        Patch.from_json({"tags": {"add": ["golden"]}, "outcome": "partial"}),
    )
    write_feedback(store, "default", [new_feedback(generated[5].id, value=0.125, source="human")])
    write_feedback(store, "default", [new_feedback(generated[6].id, value=0.5, source="human", turn_index=1)])
    delete_trajectory(store, "default", generated[7].id)

    read = _all(store, page_size=5)
    assert [t.id for _, t in read] == sorted(t.id for t in generated if t is not generated[7])
    for _, t in read:
        assert t == read_trajectory(store, t.id), t.id
    by_id = {t.id: t for _, t in read}
    assert by_id[newer.id].version == 9 and by_id[newer.id].task == "rewritten task"
    assert "golden" in by_id[generated[4].id].tags and by_id[generated[4].id].outcome.label == "partial"
    assert by_id[generated[5].id].reward == 0.125
    assert by_id[generated[6].id].turns[1].reward == 0.5
    # The model written is the model read (fields the store keeps, feedback included).
    assert by_id[generated[0].id] == generated[0]


def test_a_page_stops_at_its_turn_budget_and_nothing_is_read_twice(store: Store) -> None:
    fill(store, trajectories(12, turns=4))
    pages = list(read_trajectory_pages(store, TrajectoryFilter(), page_size=100, page_turns=10))
    assert [len(p) for p in pages] == [2] * 6  # 4 + 4 turns fit, a third would exceed 10
    ids = [t.id for page in pages for _, t in page]
    assert len(ids) == len(set(ids)) == 12
    one = list(read_trajectory_pages(store, TrajectoryFilter(), page_size=100, page_turns=1))
    assert [len(p) for p in one] == [1] * 12  # the first trajectory of a page always fits


def test_groups_are_consecutive_and_keyed(store: Store) -> None:
    fill(store, trajectories(2 * TASKS + 7))
    read = _all(store, group_key="task", page_size=9)
    keys = [key for key, _ in read]
    assert keys == sorted(keys)
    assert all(key == t.task for key, t in read)
    assert len(read) == 2 * TASKS + 7
    by_agent = _all(store, group_key="task_and_agent", page_size=9)
    assert all(key == f"{t.agent_name}\n{t.task}" for key, t in by_agent)
    by_metadata = _all(store, group_key="sql:substring(task, 1, 6)", page_size=50)
    assert {key for key, _ in by_metadata} == {
        "Task 0",
        "Task 1",
        "Task 2",
        "Task 3",
        "Task 4",
        "Task 5",
        "Task 6",
        "Task 7",
        "Task 8",
        "Task 9",
    }


def test_filters(store: Store) -> None:
    fill(store, trajectories(20, full=True))
    fill(store, [dataclasses.replace(trajectory(100), status="running")])
    store.insert_json_rows(
        "enrichments",
        [
            {
                "Tenant": "default",
                "TrajectoryId": f"{i:032x}",
                "TrajectoryVersion": 1 + i % 3,
                "Stage": "heuristic",
                "StageVersion": "1",
                "Result": "{}",
                "Score": i / 20,
            }
            for i in range(20)
        ],
    )

    def ids(where: TrajectoryFilter) -> list[int]:
        found = [int(t.id, 16) for _, t in _all(store, where, page_size=4)]
        assert count_trajectories(store, where) == len(found)
        return found

    assert ids(TrajectoryFilter(agents=["helper-agent"])) == list(range(1, 20, 2))
    assert ids(TrajectoryFilter(ranges={"reward": (0.75, None)})) == list(range(3, 20, 4))
    assert ids(TrajectoryFilter(ranges={"score": (0.5, 0.6)})) == [10, 11, 12]
    assert ids(TrajectoryFilter(statuses=["running"])) == [100]
    assert ids(TrajectoryFilter(sql="arrayExists(x -> x = 'batch-2', tags) AND turn_count = 3")) == [
        2,
        7,
        12,
        17,
    ]
    assert ids(TrajectoryFilter(task_contains="TASK 1:")) == [1]
