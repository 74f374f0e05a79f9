"""The LLM judge through the real openai SDK against the fake server's scripted judge replies:
structured output asked for, replies validated (wrong shape -> retries -> a recorded error),
retries with backoff on 429, no retry on other 4xx, truncation with a visible marker, tokens and
cost, the concurrency limit."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from trajotel.assemble.model import Trajectory
from trajotel.enrich import registry
from trajotel.enrich.judge import JUDGEMENT, JudgeStage
from trajotel.enrich.render import MARKER, is_truncated, render, truncate
from trajotel.enrich.runner import Runner
from trajotel.enrich.schema import problems
from trajotel.store import Store, enrichments
from trajotel.testing import FakeLLMServer

from tests.enrich.conftest import JUDGE_SCENARIOS, fill, judge_config, rows, trajectory_ids
from tests.enrich.conftest import JUDGEMENT as SCRIPTED

TASK = "Weather in Paris, and 21 + 21?"


@pytest.fixture(scope="module")
def runs(
    store_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Store, list[Trajectory]]]:
    """A store with a successful and a failed agent run, shared by this module's tests (the
    judge calls below do not change it, except where a test says so)."""
    store = Store.open(f"chdb://{store_root}", database=f"t_{uuid.uuid4().hex[:12]}")
    try:
        with FakeLLMServer() as agents_model:
            fill(
                store,
                tmp_path_factory.mktemp("spool"),
                agents_model,
                [(TASK, "default"), (TASK, "fake-error")],
            )
        yield store, enrichments.read(store, [("default", i) for i in trajectory_ids(store)])
    finally:
        store.command(f"DROP DATABASE IF EXISTS {store.database}")
        store.close()


def _judge(fake: FakeLLMServer, model: str, **judge: object) -> JudgeStage:
    config = judge_config(fake, model, stages="judge")
    for key, value in judge.items():
        setattr(config.judge, key, value)
    [stage] = registry.load(config, None)
    assert isinstance(stage, JudgeStage)
    return stage


def _chat_requests(fake: FakeLLMServer) -> list[dict]:
    return [r for r in fake.requests if r["path"].endswith("/chat/completions")]


def test_a_valid_judgement_with_tokens_and_cost(
    runs: tuple[Store, list[Trajectory]], fake: FakeLLMServer
) -> None:
    _, trajectories = runs
    stage = _judge(fake, "judge-good", input_price_per_mtok=2.0, output_price_per_mtok=8.0)
    [result] = stage.run(trajectories[:1])
    assert result.error is None
    assert (result.score, result.label, result.summary) == (0.8, "success", SCRIPTED["summary"])
    assert result.result["decisions"] == SCRIPTED["decisions"]
    assert result.result["entities"] == SCRIPTED["entities"]
    assert result.result["model"] == "judge-good" and result.result["truncated"] is False
    [request] = _chat_requests(fake)
    usage = request["response"]["body"]["usage"]
    assert (result.input_tokens, result.output_tokens) == (usage["prompt_tokens"], usage["completion_tokens"])
    expected_cost = (usage["prompt_tokens"] * 2.0 + usage["completion_tokens"] * 8.0) / 1e6
    assert result.cost_usd == pytest.approx(expected_cost)
    body = request["body"]
    assert body["model"] == "judge-good"
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True
    assert body["response_format"]["json_schema"]["schema"] == JUDGEMENT
    user = body["messages"][1]["content"]
    assert f"Task: {TASK}" in user and "### Turn 2" in user and "[tool call get_weather]" in user
    assert stage.version == "1:judge-good"


@pytest.mark.parametrize(
    ("model", "requests", "error"),
    [
        ("judge-not-json", 3, "not JSON"),
        ("judge-wrong-shape", 3, "$.score: 1.5 is above the maximum 1; $.entities: expected array"),
        ("judge-bad-turn", 3, "$.decisions[0].turn_index: turn 99 does not exist"),
        ("judge-rate-limited", 3, "HTTP 429 from the judge endpoint"),
        ("judge-unknown-model", 1, "HTTP 404 from the judge endpoint"),  # asking again would not help
    ],
)
def test_bad_replies_are_retried_then_recorded_as_errors(
    runs: tuple[Store, list[Trajectory]], fake: FakeLLMServer, model: str, requests: int, error: str
) -> None:
    _, trajectories = runs
    [result] = _judge(fake, model, max_retries=2).run(trajectories[:1])
    assert len(_chat_requests(fake)) == requests
    assert result.error is not None and error in result.error
    assert result.score is None
    if model != "judge-rate-limited" and model != "judge-unknown-model":
        assert result.input_tokens > 0  # invalid replies were paid for: their tokens count


def test_json_object_mode_for_servers_without_structured_outputs(
    runs: tuple[Store, list[Trajectory]], fake: FakeLLMServer
) -> None:
    _, trajectories = runs
    [result] = _judge(fake, "judge-good", structured_output=False).run(trajectories[:1])
    assert result.error is None
    assert _chat_requests(fake)[0]["body"]["response_format"] == {"type": "json_object"}


def test_long_trajectories_are_cut_with_a_visible_marker(
    runs: tuple[Store, list[Trajectory]], fake: FakeLLMServer
) -> None:
    _, trajectories = runs
    full = render(trajectories[0], 1_000_000)
    assert not is_truncated(full)
    [result] = _judge(fake, "judge-good", max_input_chars=300).run(trajectories[:1])
    sent = _chat_requests(fake)[0]["body"]["messages"][1]["content"]
    assert len(sent) <= 300 < len(full)
    assert is_truncated(sent) and result.result["truncated"] is True
    assert sent.startswith(full[:50])  # the start (the task) is kept
    assert sent.endswith(full[-50:])  # and the end (how the run finished)
    omitted = int(sent.split("[... ")[1].split(" ")[0])
    kept = len(sent) - len(MARKER.format(omitted=omitted)) - 2
    assert omitted + kept == len(full)


def test_truncate_keeps_short_text_and_bounds_long_text() -> None:
    assert truncate("short", 10) == "short"
    for size in (100, 150, 1000):
        text = "x" * 5000
        assert len(truncate(text, size)) <= size
        assert is_truncated(truncate(text, size))


def test_the_concurrency_limit_holds(runs: tuple[Store, list[Trajectory]]) -> None:
    _, trajectories = runs
    with FakeLLMServer(scenarios=JUDGE_SCENARIOS, latency_s=0.3) as slow:
        [stage] = registry.load(judge_config(slow, "judge-good", stages="judge", concurrency=2), None)
        assert isinstance(stage, JudgeStage)
        # Six judgements at once (say a worker pass and manual runs together): two at a time
        # reach the endpoint.
        with ThreadPoolExecutor(6) as pool:
            results = list(pool.map(stage.judge, trajectories * 3))
    assert all(r.error is None for r in results)
    assert slow.max_in_flight == 2


def test_judge_results_in_the_store_and_views(
    runs: tuple[Store, list[Trajectory]], fake: FakeLLMServer
) -> None:
    store, trajectories = runs
    stage = _judge(fake, "judge-good", input_price_per_mtok=1.0)
    Runner(store, [stage], concurrency=2).run_pending(10)
    stored = rows(store, "judge")
    assert len(stored) == 2 and all(r["CostUsd"] > 0 and r["InputTokens"] > 0 for r in stored)
    scores = store.query("SELECT trajectory_id, score, score_source, summary FROM trajectory_scores").rows
    assert sorted(scores) == sorted([[t.id, 0.8, "judge", SCRIPTED["summary"]] for t in trajectories])
    decisions = store.query("SELECT type, turn_index, alternatives FROM decisions").rows
    assert decisions == [["tool_selection", 0, ["answer from memory"]]] * 2
    entities = store.query("SELECT name, type, first_turn, importance FROM entities").rows
    assert entities == [["Paris", "city", 0, 0.9]] * 2
    costs = store.query("SELECT stage, runs, failures, cost_usd FROM enrichment_costs").rows
    assert costs[0][:3] == ["judge", 2, 0] and costs[0][3] == pytest.approx(sum(r["CostUsd"] for r in stored))


def test_the_schema_checker_names_what_is_wrong() -> None:
    assert problems(SCRIPTED, JUDGEMENT) == []
    found = problems({**SCRIPTED, "extra": 1, "outcome": "great", "score": True}, JUDGEMENT)
    assert "$: unexpected 'extra'" in found
    assert any("$.outcome: 'great' is not one of success" in p for p in found)
    assert "$.score: expected number, got bool" in found
    missing = {k: v for k, v in SCRIPTED.items() if k != "summary"}
    assert problems(missing, JUDGEMENT) == ["$: missing 'summary'"]
