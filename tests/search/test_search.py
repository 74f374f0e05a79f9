"""Keyword, vector and hybrid search on the real engine; vectors from the real openai SDK against
the fake embeddings endpoint."""

from __future__ import annotations

import math
import re

import pytest

from trajotel.config import SearchConfig
from trajotel.enrich.embed import CUT_MARKER, KeywordsStage, trajectory_text
from trajotel.enrich.search import search
from trajotel.enrich.stage import StageResult, StageSettings
from trajotel.errors import ConfigError, InvalidInputError
from trajotel.store import Store, enrichments
from trajotel.store.edits import Patch, delete_trajectory, patch_trajectory
from trajotel.store.search import candidate_facts
from trajotel.testing import FakeLLMServer
from trajotel.testing.fake_llm.embeddings import unit_vector

from tests.search.conftest import RUNS, embed_runs, run, store_runs


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.hypot(*a) / math.hypot(*b)


def ids(hits: list) -> list[str]:
    return [hit.trajectory_id for hit in hits]


def test_keyword_search_needs_no_model(store: Store) -> None:
    store_runs(store, RUNS)
    hits = search(store, "refund broken kettle")
    # Only refund-ok has all three words; refund-fail and kettle share one or two of them.
    assert ids(hits)[0] == "refund-ok"
    assert set(ids(hits)) == {"refund-ok", "refund-fail", "kettle"}
    assert hits[0].keyword_score == pytest.approx(1.0)
    assert all(0 < hit.keyword_score < 1 for hit in hits[1:])
    assert hits[0].why[0] == "keyword rank 1: matched broken, kettle, refund"
    assert hits[0].task == RUNS[0].task and hits[0].outcome == "success"
    assert search(store, "submarine") == []


def test_rarer_words_weigh_more(store: Store) -> None:
    # "parcel" is in one of the four texts, "kettle" in two: the text with "parcel" ranks first.
    store_runs(store, RUNS)
    hits = search(store, "parcel kettle")
    assert ids(hits)[0] == "refund-fail"
    assert hits[0].keyword_score > hits[1].keyword_score == hits[2].keyword_score > 0


def test_a_newer_version_replaces_the_indexed_words(store: Store) -> None:
    store_runs(store, [run("t", "Translate the menu to French", "Done.")])
    assert ids(search(store, "french")) == ["t"]
    store_runs(store, [run("t", "Translate the menu to German", "Done.", version=2)])
    assert search(store, "french") == []  # the old version's postings no longer count
    assert ids(search(store, "german")) == ["t"]


def test_text_is_cut_at_the_budget_with_a_marker(store: Store) -> None:
    long_run = run("long", "Summarize " + "word " * 5000, "ok")
    text = trajectory_text(long_run, max_chars=300)
    assert len(text) == 300 and text.endswith(CUT_MARKER)
    stored = KeywordsStage(StageSettings(store=store, options={"index_text_chars": 300})).run([long_run])
    assert stored[0].result == {"chars": 300}


def test_vector_search_ranks_the_nearest_vectors_first(store: Store, fake_embeddings: FakeLLMServer) -> None:
    store_runs(store, RUNS)
    stage = embed_runs(store, fake_embeddings, RUNS)
    assert stage.version == "1:fake-embed@16:8000"
    query = trajectory_text(RUNS[2])  # the exact text embedded for "weather": similarity 1
    hits = search(store, query, mode="vector", embedder=stage.embedder, k=4)
    assert ids(hits)[0] == "weather"
    assert hits[0].vector_similarity == pytest.approx(1.0, abs=0.01)  # BFloat16 vectors
    # All of them in the order of the cosine similarity of the fake's vectors, computed here.
    similarity = {t.id: cosine(unit_vector(query, 16), unit_vector(trajectory_text(t), 16)) for t in RUNS}
    assert ids(hits) == sorted(similarity, key=lambda i: -similarity[i])
    for hit in hits:
        assert hit.vector_similarity == pytest.approx(similarity[hit.trajectory_id], abs=0.01)


def test_hybrid_fuses_both_rankings(store: Store, fake_embeddings: FakeLLMServer) -> None:
    store_runs(store, RUNS)
    stage = embed_runs(store, fake_embeddings, RUNS)
    hits = search(store, "refund broken kettle", embedder=stage.embedder, k=4)  # hybrid by default
    assert len(hits) == 4  # the vector leg ranks every trajectory; keywords only three
    for hit in hits:
        assert hit.vector_similarity is not None
        parts = [f for f in hit.why if f.startswith(("keyword rank", "vector rank"))]
        ranks = [int(f.split()[2].rstrip(":")) for f in parts]
        assert hit.relevance == pytest.approx(sum(1 / (60 + r) for r in ranks))
    assert ids(hits) == sorted(
        ids(hits), key=lambda i: -next(h.relevance for h in hits if h.trajectory_id == i)
    )
    assert (
        "weather" in ids(hits) and next(h for h in hits if h.trajectory_id == "weather").keyword_score is None
    )


def test_low_scores_return_the_failing_runs(store: Store) -> None:
    runs = [run(f"run-{i}", "Refund order 77", "answer", "failure" if i % 2 else "success") for i in range(6)]
    store_runs(store, runs)
    failing = search(store, "refund order 77", max_score=0.4)
    assert sorted(ids(failing)) == ["run-1", "run-3", "run-5"]
    assert all(hit.score == pytest.approx(0.1) and hit.score_source == "outcome" for hit in failing)
    assert sorted(ids(search(store, "refund order 77", min_score=0.6))) == ["run-0", "run-2", "run-4"]
    # A judge's score wins over the outcome: the judge finds run-0 poor after all.
    enrichments.write(
        store, "judge", "1", [(runs[0], StageResult("run-0", score=0.2, summary="wrong amount"))]
    )
    failing = search(store, "refund order 77", max_score=0.4)
    assert sorted(ids(failing)) == ["run-0", "run-1", "run-3", "run-5"]
    assert next(h for h in failing if h.trajectory_id == "run-0").score_source == "judge"


def test_the_judge_summary_is_searchable(store: Store) -> None:
    target = run("t", "Handle ticket 5", "Closed.")
    write = [(target, StageResult("t", score=0.9, summary="customer wanted a chargeback"))]
    store_runs(store, [target])
    enrichments.write(store, "judge", "1", write)
    assert search(store, "chargeback") == []  # indexed before the judge ran
    KeywordsStage(StageSettings(store=store)).run([target])
    assert ids(search(store, "chargeback")) == ["t"]


def test_deleted_trajectories_are_never_returned(store: Store, fake_embeddings: FakeLLMServer) -> None:
    store_runs(store, RUNS)
    stage = embed_runs(store, fake_embeddings, RUNS)
    delete_trajectory(store, "default", "refund-ok")
    for mode in ("keyword", "vector", "hybrid"):
        found = ids(search(store, "refund broken kettle", mode=mode, embedder=stage.embedder, k=10))
        assert "refund-ok" not in found and "refund-fail" in found, mode


def test_filters_and_tenants(store: Store) -> None:
    other = run("other", "Refund order 9", "ok")
    other.tenant = "acme"
    store_runs(store, [*RUNS, other])
    assert ids(search(store, "refund", filters={"outcome": "failure"})) == ["refund-fail"]
    both = {"agent": "support-agent", "since": "2025-12-31", "until": "2026-01-02"}
    assert ids(search(store, "refund", filters=both, max_score=0.5)) == ["refund-fail"]
    assert ids(search(store, "refund", tenant="acme")) == ["other"]
    assert "other" not in ids(search(store, "refund"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"query": "  "}, '"query" must be a non-empty string'),
        ({"query": "!!!"}, '"query" has no words'),
        ({"query": "x", "k": 0}, '"k" must be between 1 and 100'),
        ({"query": "x", "max_score": 2.0}, '"max_score" must be in [0, 1]'),
        ({"query": "x", "min_score": 0.8, "max_score": 0.2}, '"min_score" 0.8 is above "max_score" 0.2'),
        ({"query": "x", "filters": {"colour": "red"}}, "unknown filter 'colour'"),
        ({"query": "x", "mode": "fuzzy"}, '"mode" must be one of keyword, vector, hybrid'),
    ],
)
def test_bad_requests_say_what_is_wrong(empty_store: Store, kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        search(empty_store, **kwargs)


def test_vector_search_without_a_model_says_how_to_configure_one(empty_store: Store) -> None:
    with pytest.raises(ConfigError, match="needs an embeddings model") as caught:
        search(empty_store, "refund", mode="vector")
    assert "[enrich.embeddings] provider" in (caught.value.hint or "")


def test_candidate_facts_agree_with_the_views(store: Store) -> None:
    # Search reads visibility, outcome and score from the base tables by id; the views are the
    # definition. Edits, deletion of a root agent (hiding its sub-agent), judge and heuristic
    # scores and the outcome-derived score must all come out the same.
    runs = [
        run(f"r{i}", f"Refund order {i}", "done", "failure" if i % 3 == 0 else "success") for i in range(8)
    ]
    child = run("r1/sub", "Look up order 1", "found")
    child.parent_trajectory_id = "r1"
    store_runs(store, [*runs, child])
    patch_trajectory(store, "default", "r2", Patch(outcome_label="failure", outcome_reason="wrong refund"))
    delete_trajectory(store, "default", "r1")
    delete_trajectory(store, "default", "r5")
    enrichments.write(store, "judge", "1", [(runs[3], StageResult("r3", score=0.8))])
    enrichments.write(store, "heuristic", "1", [(runs[4], StageResult("r4", score=0.3))])
    expected = store.query(
        "SELECT t.trajectory_id, t.outcome, t.outcome_confidence, "
        "if(s.score_source != '', s.score, multiIf(t.outcome = 'success', t.outcome_confidence, "
        "t.outcome = 'failure', 1 - t.outcome_confidence, t.outcome = 'partial', 0.5, NULL)) AS score "
        "FROM trajectories AS t LEFT JOIN trajectory_scores AS s "
        "ON s.tenant = t.tenant AND s.trajectory_id = t.trajectory_id ORDER BY 1"
    ).rows
    every_id = [t.id for t in runs] + [child.id]
    facts = candidate_facts(store, "default", every_id, {})
    got = [[i, f["outcome"], f["outcome_confidence"], f["score"]] for i, f in sorted(facts.items())]
    assert got == expected
    assert {"r1", "r1/sub", "r5"}.isdisjoint(facts) and facts["r2"]["outcome"] == "failure"
    assert facts["r3"]["score_source"] == "judge" and facts["r4"]["score_source"] == "heuristic"


def test_filters_that_reject_the_best_matches_still_find_k(store: Store) -> None:
    # The legs read a few times `candidates` at first; when the filters reject them all, the
    # search reads further instead of answering short.
    strong = [run(f"a{i}", "refund kettle order", "refund kettle order", "success") for i in range(30)]
    weak = [run(f"b{i}", "refund", "we could not", "failure") for i in range(3)]
    store_runs(store, [*strong, *weak])
    settings = SearchConfig(candidates=3)  # the legs read 12 first: all strong ones
    failing = search(store, "refund kettle order", max_score=0.4, k=5, settings=settings)
    assert sorted(ids(failing)) == ["b0", "b1", "b2"]
