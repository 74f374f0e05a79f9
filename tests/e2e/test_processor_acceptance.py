"""Issue 5's acceptance, end to end: real agent runs under ``opentelemetry-instrument`` fill a
collector whose enrichment worker judges them and embeds them through a fake OpenAI-compatible
judge and embeddings server; then search, the few-shot helper, feedback and deletion over REST,
and what an export sees."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from trajotel import Client
from trajotel.enrich.fewshot import estimate_tokens, few_shot_context
from trajotel.testing import FakeLLMServer
from trajotel.testing.collector_process import CollectorProcess
from trajotel.testing.fake_llm.scenario import Step

from tests.support.agent_runs import (
    BIN,
    COLLECTOR_ENV,
    OPENTELEMETRY_INSTRUMENT,
    agent_env,
    run_agent,
    wait_for,
)

PROGRAM = Path(__file__).resolve().parent / "programs" / "task_agent.py"

SUCCEEDED = "The agent looked up what it needed with two tools and answered the customer."
FAILED = "The model call failed before the agent could do anything; the customer got no answer."


def judgement(summary: str, outcome: str, score: float, entity: str) -> str:
    decision = {
        "turn_index": 0,
        "type": "tool_selection",
        "reasoning": "the order needs a lookup first",
        "alternatives": ["answer from memory"],
        "chosen_action": "get_weather",
        "confidence": 0.7,
    }
    return json.dumps(
        {
            "summary": summary,
            "outcome": outcome,
            "score": score,
            "reasoning": f"judged {outcome}",
            "decisions": [decision] if outcome == "success" else [],
            "entities": [
                {"name": entity, "type": "order", "first_turn": 0, "importance": 0.8, "relations": []}
            ],
        }
    )


# The fake judge answers by what the judged run shows, as a real one would: a run whose model
# call failed gets a poor judgement, any other a good one.
SCENARIOS = {
    "judge": [
        Step.text(judgement(FAILED, "failure", 0.1, "order")).matching("the model call failed"),
        Step.text(judgement(SUCCEEDED, "success", 0.9, "order")),
    ]
}

RUNS = [
    ("default", "Refund order 1182 for a broken kettle"),
    ("fake-error", "Refund order 2210 for a lost parcel"),
    ("default", "What is the weather in Paris for the delivery"),
    ("fake-error", "Refund order 3301 for a cracked teapot"),
]


def export(data: Path, out: Path) -> dict[str, dict]:
    """``trajotel export`` of the canonical format through the running collector: id -> record."""
    done = subprocess.run(
        [str(BIN / "trajotel"), "export", "--format", "trajotel", "--out", str(out), "--data", str(data)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    return {record["id"]: record for record in records}


@pytest.fixture
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(scenarios=SCENARIOS) as server:
        yield server


def test_enriched_searchable_and_editable_trajectories(tmp_path: Path, fake: FakeLLMServer) -> None:
    env = {
        **COLLECTOR_ENV,
        "OPENAI_API_KEY": "test-key",
        "TRAJOTEL_ENRICH_STAGES": "heuristic,keywords,judge,embeddings",
        "TRAJOTEL_ENRICH_POLL_INTERVAL_S": "0.2",
        "TRAJOTEL_ENRICH_JUDGE_MODEL": "judge",
        "TRAJOTEL_ENRICH_JUDGE_BASE_URL": fake.base_url,
        "TRAJOTEL_ENRICH_EMBEDDINGS_PROVIDER": "openai",
        "TRAJOTEL_ENRICH_EMBEDDINGS_MODEL": "fake-embed",
        "TRAJOTEL_ENRICH_EMBEDDINGS_BASE_URL": fake.base_url,
        "TRAJOTEL_ENRICH_EMBEDDINGS_DIMENSIONS": "16",
    }
    data = tmp_path / "data"
    with CollectorProcess(data, env=env) as collector:
        args = [arg for run in RUNS for arg in run]
        done = run_agent(
            [OPENTELEMETRY_INSTRUMENT, sys.executable, str(PROGRAM), *args], agent_env(collector, fake)
        )
        assert done.stdout.count("DONE") == 2 and done.stdout.count("FAILED") == 2, done.stdout
        client = Client(collector.http_endpoint)

        # Every run gets an outcome, a judge score, summary, decisions, entities and a vector.
        def enriched() -> list[dict]:
            rows = collector.query(
                "SELECT t.trajectory_id AS id, t.task AS task, t.outcome AS outcome, s.score AS score, "
                "s.summary AS summary FROM trajectories AS t INNER JOIN trajectory_scores AS s "
                "ON s.trajectory_id = t.trajectory_id WHERE s.judge_score IS NOT NULL ORDER BY task"
            )
            # Each stage picks its own work per pass: a run that completed while a pass was
            # under way may be judged before the keywords stage of the next pass indexes it.
            indexed = [
                int(collector.query(f"SELECT count() AS n FROM {table} FINAL")[0]["n"])
                for table in ("trajectory_vectors", "trajectory_search_text")
            ]
            return rows if len(rows) == len(RUNS) and indexed == [len(RUNS)] * 2 else []

        rows = wait_for(enriched, timeout_s=120, what="every run judged, embedded and indexed")
        by_task = {row["task"]: row for row in rows}
        failing = sorted(by_task[task]["id"] for model, task in RUNS if model == "fake-error")
        succeeding = sorted(by_task[task]["id"] for model, task in RUNS if model == "default")
        for model, task in RUNS:
            row = by_task[task]
            ok = model == "default"
            assert row["outcome"] == ("success" if ok else "failure"), row
            assert (float(row["score"]), row["summary"]) == ((0.9, SUCCEEDED) if ok else (0.1, FAILED))
        decisions = collector.query("SELECT trajectory_id, type FROM decisions ORDER BY trajectory_id")
        assert [(d["trajectory_id"], d["type"]) for d in decisions] == [
            (i, "tool_selection") for i in succeeding
        ]
        entities = collector.query("SELECT DISTINCT trajectory_id FROM entities ORDER BY trajectory_id")
        assert [e["trajectory_id"] for e in entities] == sorted(failing + succeeding)

        # A search for a failing task, asking for low scores, returns the failing runs first.
        for mode in ("keyword", "vector", "hybrid"):
            hits = client.search("refund order for a lost parcel", max_score=0.4, mode=mode)
            assert sorted(h["trajectory_id"] for h in hits) == failing, mode
        # Best first by words (the fake embeddings are not semantic: hybrid may tie the two).
        hits = client.search("refund order for a lost parcel", max_score=0.4, mode="keyword")
        assert hits[0]["trajectory_id"] == by_task["Refund order 2210 for a lost parcel"]["id"]

        # The context helper: successful similar runs, whole, within the budget.
        context = few_shot_context("Refund order 5120 for a broken mug", k=3, token_budget=600, client=client)
        assert context.example_ids and set(context.example_ids) <= set(succeeding)
        assert 0 < context.tokens <= 600 and estimate_tokens(context.text) <= 600
        assert "Refund order 1182 for a broken kettle" in context.text and "get_weather" in context.text

        # Feedback over REST sets the reward everything reads (the default rule: human first).
        target = succeeding[0]
        assert client.get(target).reward is None
        client.feedback(target, 0.25, source="human", author="ana", comment="refund was late")
        assert client.get(target).reward == 0.25
        [listed] = [row for row in client.list() if row["trajectory_id"] == target]
        assert (listed["reward"], listed["reward_source"], listed["human_reviewed"]) == (0.25, "human", True)
        exported = export(data, tmp_path / "before.jsonl")
        assert set(exported) == set(failing + succeeding)
        assert exported[target]["reward"] == 0.25 and exported[target]["feedback"][0]["author"] == "ana"

        # Deleted over REST: gone from queries, the REST list, search and exports.
        gone = failing[0]
        client.delete(gone)
        assert gone not in {row["trajectory_id"] for row in client.list()}
        assert not collector.query(f"SELECT 1 FROM trajectories WHERE trajectory_id = '{gone}'")
        assert gone not in {h["trajectory_id"] for h in client.search("refund order", max_score=0.4)}
        assert set(export(data, tmp_path / "after.jsonl")) == set(failing + succeeding) - {gone}
    assert collector.proc is not None and collector.proc.returncode == 0, collector.log()
