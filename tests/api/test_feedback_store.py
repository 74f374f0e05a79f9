"""Feedback, the reward rule and people's edits, through the in-process pipeline (spool -> store
-> assembly on chdb) and the store-level readers the REST API and exports use."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

import trajotel
from trajotel.config import FeedbackConfig
from trajotel.errors import ConfigError, InvalidInputError
from trajotel.store import Store
from trajotel.store.edits import Patch, delete_trajectory, patch_trajectory
from trajotel.store.feedback import RewardRule, new_feedback, write_feedback, write_reward_rule
from trajotel.store.trajectories import read_trajectory
from trajotel.store.trajectory_query import TrajectoryFilter, list_trajectory_rows, read_trajectories

from tests.api.runs import Recorded, record_run
from tests.support.pipeline import InProcessPipeline


def deliver(store: Store, tmp_path: Path, *runs: Recorded) -> InProcessPipeline:
    pipeline = InProcessPipeline(store, tmp_path / "spool")
    for run in runs:
        pipeline.store_request(encode_spans(run.spans))
        if run.logs:
            pipeline.store_request(encode_logs(run.logs))
    pipeline.assemble()
    return pipeline


def view_row(store: Store, trajectory_id: str) -> dict:
    (row,) = store.query(
        "SELECT reward, reward_source, human_reviewed, tags, metadata, outcome, outcome_source "
        "FROM trajectories WHERE trajectory_id = {id:String}",
        {"id": trajectory_id},
    ).dicts()
    return row


def add(store: Store, trajectory_id: str, **fields) -> None:
    write_feedback(store, "default", [new_feedback(trajectory_id, **fields)])


def test_the_reward_rule_picks_the_strongest_source_and_readers_agree(store: Store, tmp_path: Path) -> None:
    run = record_run("rule", reward=0.2)
    deliver(store, tmp_path, run).close()
    tid = run.trajectory_id
    assert view_row(store, tid)["reward"] == 0.2  # the run's own reward
    assert view_row(store, tid)["reward_source"] == "run"

    add(store, tid, value=0.9, source="llm_judge")  # weaker than the run: no change
    assert view_row(store, tid)["reward"] == 0.2
    add(store, tid, value=0.7, source="api", author="grader")
    add(store, tid, value=0.5, source="api", author="grader-2")  # the latest api value wins
    row = view_row(store, tid)
    assert (row["reward"], row["reward_source"], row["human_reviewed"]) == (0.5, "api", False)
    add(store, tid, value=0.0, source="human", comment="wrong city")
    row = view_row(store, tid)
    assert (row["reward"], row["reward_source"], row["human_reviewed"]) == (0.0, "human", True)

    trajectory = read_trajectory(store, tid)
    assert trajectory is not None and trajectory.reward == 0.0
    assert [(f.source, f.value) for f in trajectory.feedback] == [
        ("llm_judge", 0.9),
        ("api", 0.7),
        ("api", 0.5),
        ("human", 0.0),
    ]

    # Another rule: the judge first, mean of its values; humans not counted.
    write_reward_rule(
        store, RewardRule(sources=("llm_judge", "api"), combine="mean", review_sources=("api",))
    )
    add(store, tid, value=0.4, source="llm_judge")
    row = view_row(store, tid)
    assert row["reward"] == pytest.approx(0.65) and row["reward_source"] == "llm_judge"
    assert row["human_reviewed"] is True  # api feedback counts as reviewed under this rule
    write_reward_rule(store, RewardRule(sources=("heuristic",)))  # no such feedback, run not listed
    assert view_row(store, tid)["reward"] is None
    assert read_trajectory(store, tid).reward is None


def test_retried_feedback_is_stored_once(store: Store, tmp_path: Path) -> None:
    run = record_run("retry")
    deliver(store, tmp_path, run).close()
    for _ in range(2):
        add(store, run.trajectory_id, value=1.0, source="human", author="ana")
        add(store, run.trajectory_id, value=1.0, key="client-key-1")
        add(store, run.trajectory_id, value=0.0, key="client-key-1")  # same key: a retry of it
    assert len(read_trajectory(store, run.trajectory_id).feedback) == 2


def test_feedback_inserted_with_sql_counts(store: Store, tmp_path: Path) -> None:
    run = record_run("sql", reward=1.0)
    deliver(store, tmp_path, run).close()
    store.command(
        "INSERT INTO feedback_data (Tenant, TrajectoryId, Source, Value, Comment) "
        "VALUES ('default', {id:String}, 'human', -1, 'reviewed in a notebook')",
        {"id": run.trajectory_id},
    )
    assert view_row(store, run.trajectory_id)["reward"] == -1.0
    (record,) = read_trajectory(store, run.trajectory_id).feedback
    assert record.comment == "reviewed in a notebook" and len(record.id) == 32  # a generated id


def test_evaluation_events_become_feedback_of_their_run_and_turn(store: Store, tmp_path: Path) -> None:
    in_run = {"value": 0.8, "source": "rule", "label": "tests pass", "comment": "12/12", "author": "ci"}
    run = record_run("evaluated", turns=3, in_run_feedback=in_run, judge_turn=1)
    deliver(store, tmp_path, run).close()
    trajectory = read_trajectory(store, run.trajectory_id)
    by_source = {f.source: f for f in trajectory.feedback}
    assert set(by_source) == {"rule", "llm_judge"}
    rule, judge = by_source["rule"], by_source["llm_judge"]
    assert (rule.turn_index, rule.value, rule.label, rule.comment, rule.author) == (
        None,
        0.8,
        "tests pass",
        "12/12",
        "ci",
    )
    assert (judge.turn_index, judge.value, judge.label, judge.comment) == (
        1,
        0.25,
        "irrelevant",
        "does not answer the question",
    )
    assert trajectory.reward == 0.8  # the rule source, from the span event
    assert [t.reward for t in trajectory.turns] == [None, 0.25, None]  # the judge's, on its turn
    turns = store.query(
        "SELECT turn_index, reward FROM turns WHERE trajectory_id = {id:String} ORDER BY turn_index",
        {"id": run.trajectory_id},
    ).rows
    assert turns == [[0, None], [1, 0.25], [2, None]]


def test_edits_apply_everywhere_and_survive_reassembly(store: Store, tmp_path: Path) -> None:
    run = record_run("edited", reward=0.3)
    chat = next(s for s in run.spans if s.name.startswith("chat"))
    early = Recorded(spans=[s for s in run.spans if s is not chat])
    pipeline = deliver(store, tmp_path, early)
    tid = run.trajectory_id
    patch_trajectory(
        store,
        "default",
        tid,
        Patch.from_json(
            {
                "tags": {"add": ["golden", "paris"]},
                "outcome": {"label": "failure", "reason": "wrong city"},
                "metadata": {"reviewer": "ana"},
                "author": "ana",
            }
        ),
    )
    patch_trajectory(store, "default", tid, Patch.from_json({"tags": {"remove": ["paris"]}}))
    before = read_trajectory(store, tid)
    pipeline.store_request(encode_spans([chat]))  # a late span: a newer version is assembled
    pipeline.assemble()
    pipeline.close()
    after = read_trajectory(store, tid)
    assert after.version > before.version and len(after.turns) == len(before.turns) + 1
    for trajectory in (before, after):
        assert trajectory.tags == ["golden"]
        assert trajectory.metadata == {"reviewer": "ana"}
        assert (trajectory.outcome.label, trajectory.outcome.reasons, trajectory.outcome.source) == (
            "failure",
            ["wrong city"],
            "edit",
        )
    row = view_row(store, tid)
    assert (row["tags"], row["outcome"], row["outcome_source"]) == (["golden"], "failure", "edit")
    assert (
        list_trajectory_rows(store, TrajectoryFilter(tags=["golden"], outcomes=["failure"]))[0][
            "trajectory_id"
        ]
        == tid
    )
    patch_trajectory(store, "default", tid, Patch.from_json({"outcome": None, "tags": ["a", "b"]}))
    reverted = read_trajectory(store, tid)
    assert reverted.outcome.source != "edit" and reverted.tags == ["a", "b"]


def test_delete_hides_a_trajectory_and_its_sub_agents(store: Store, tmp_path: Path) -> None:
    kept, gone = record_run("kept"), record_run("gone", sub_agent=True)
    deliver(store, tmp_path, kept, gone).close()
    children = store.query(
        "SELECT trajectory_id FROM trajectories WHERE parent_trajectory_id = {id:String}",
        {"id": gone.trajectory_id},
    ).rows
    assert len(children) == 1
    add(store, gone.trajectory_id, value=1.0)

    delete_trajectory(store, "default", gone.trajectory_id)
    visible = {r[0] for r in store.query("SELECT trajectory_id FROM trajectories").rows}
    assert visible == {kept.trajectory_id}
    assert read_trajectory(store, gone.trajectory_id) is None
    assert read_trajectory(store, children[0][0]) is None
    assert [t.id for t in read_trajectories(store, TrajectoryFilter())] == [kept.trajectory_id]
    for view in ("turns", "tool_calls", "feedback"):
        hidden = store.query(
            f"SELECT count() FROM {view} WHERE trajectory_id != {{id:String}}", {"id": kept.trajectory_id}
        ).rows
        assert hidden == [[0]], view
    assert (
        store.query("SELECT count() FROM spans WHERE TraceId = {t:String}", {"t": gone.trajectory_id}).rows[
            0
        ][0]
        > 0
    )

    delete_trajectory(store, "default", gone.trajectory_id, purge=True)
    for table in ("spans", "trajectories_data", "turns_data", "feedback_data"):
        column = "TraceId" if table == "spans" else "TrajectoryId"
        left = store.query(
            f"SELECT count() FROM {table} WHERE startsWith({column}, {{t:String}})", {"t": gone.trajectory_id}
        ).rows
        assert left == [[0]], table
    assert read_trajectory(store, kept.trajectory_id) is not None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"tags": "golden"}, "tags must be a list"),
        ({"tags": {"set": ["a"], "add": ["b"]}}, "tags.set cannot be combined"),
        ({"outcome": "great"}, "outcome.label must be one of"),
        ({"metadata": {"k": 1}}, "metadata.k must be a string"),
        ({"colour": "red"}, "unknown field 'colour'"),
    ],
)
def test_bad_patches_name_the_field(body: dict, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        Patch.from_json(body)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"value": float("nan")}, "finite number"),
        ({"value": 1, "source": "boss"}, "source 'boss' is not one of"),
        ({"value": 1, "turn_index": -1}, "turn_index must be >= 0"),
        ({"comment": "x" * 11}, "comment has 11 characters; at most 10"),
        ({}, "needs a value, a label or a comment"),
    ],
)
def test_bad_feedback_names_the_field(fields: dict, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        new_feedback("t", max_text_chars=10, **fields)


def test_a_bad_reward_rule_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match=r"feedback\.reward_sources: unknown source 'humans'"):
        RewardRule.from_config(FeedbackConfig(reward_sources="humans,api"))
    with pytest.raises(ConfigError, match=r"feedback\.reward_combine"):
        RewardRule.from_config(FeedbackConfig(reward_combine="max"))
    assert RewardRule.from_config(FeedbackConfig()) == RewardRule()


def test_feedback_without_an_id_outside_a_run_records_nothing(caplog: pytest.LogCaptureFixture) -> None:
    assert trajotel.feedback(value=1.0) is None
    assert "feedback() without a trajectory id outside a trajectory; ignored" in caplog.text
