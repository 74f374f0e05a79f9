"""The vector leg's preselection by sign-bit code (migration 0011) on the real engine: the codes
the engine stores are the ones the query is compared with, the exact top k is found when it is
among the nearest codes, and stores made before the migration get their codes."""

from __future__ import annotations

import math
import random

import pytest

from trajotel.config import SearchConfig
from trajotel.enrich.search import search
from trajotel.errors import ConfigError
from trajotel.store import Store
from trajotel.store import search as index
from trajotel.store.migrations import apply_migrations
from trajotel.testing import FakeLLMServer

from tests.search.conftest import RUNS, embed_runs, store_runs

MODEL = "test-model"


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.hypot(*a) / math.hypot(*b)


def put(store: Store, vectors: dict[str, list[float]], version: int = 1) -> None:
    index.write_vectors(store, MODEL, [("default", i, version, "", v) for i, v in vectors.items()])


def leg(store: Store, query: list[float], n: int, preselect: int) -> list[str]:
    return [row["id"] for row in index.vector_leg(store, "default", query, MODEL, n, preselect)]


def test_the_stored_codes_are_the_query_codes(store: Store) -> None:
    # 130 dimensions: two full 64-bit words and a partial one; zeros count as not positive.
    rng = random.Random(1)
    vectors = {f"v{i}": [rng.choice([-1.5, -0.001, 0.0, 0.001, 2.0]) for _ in range(130)] for i in range(20)}
    put(store, vectors)
    stored = store.query("SELECT TrajectoryId, Code FROM trajectory_vector_index FINAL").rows
    assert {i: list(code) for i, code in stored} == {i: index.sign_code(v) for i, v in vectors.items()}
    assert all(len(code) == 3 for _, code in stored)


def test_the_exact_top_k_is_found_among_many_vectors(store: Store) -> None:
    rng = random.Random(2)
    query = [rng.gauss(0, 1) for _ in range(96)]
    # Five near neighbours (the query plus growing noise) among 400 random vectors.
    vectors = {f"near{i}": [x + rng.gauss(0, 0.2 + 0.2 * i) for x in query] for i in range(5)}
    vectors |= {f"far{i}": [rng.gauss(0, 1) for _ in range(96)] for i in range(400)}
    put(store, vectors)
    exact = sorted(vectors, key=lambda i: (-cosine(query, vectors[i]), i))[:5]
    assert sorted(exact) == [f"near{i}" for i in range(5)]
    assert leg(store, query, 5, 0) == exact  # every vector compared
    assert leg(store, query, 5, 20) == exact  # only the 20 nearest codes compared
    similarity = {r["id"]: r["similarity"] for r in index.vector_leg(store, "default", query, MODEL, 5, 20)}
    for i in exact:
        assert similarity[i] == pytest.approx(cosine(query, vectors[i]), abs=0.01)  # BFloat16


def test_only_the_preselected_vectors_are_compared(store: Store) -> None:
    # "best" is the most similar (cosine 0.71) but has half its signs wrong; the decoys share
    # nearly every sign with the query and are barely similar (cosine ~0.04). A preselection of
    # 10 codes holds only decoys; compared exactly (0) or with room for it (31), "best" wins.
    query = [1.0] * 64
    vectors = {"best": [1.0] * 32 + [-0.001] * 32}
    vectors |= {f"decoy{i:02d}": [10.0 + i] + [0.01] * 56 + [-1.0] * 7 for i in range(30)}
    put(store, vectors)
    assert leg(store, query, 1, 0) == ["best"]
    assert leg(store, query, 1, 31) == ["best"]
    assert leg(store, query, 1, 10)[0].startswith("decoy")
    # The preselection is never smaller than the candidates asked for.
    assert "best" in leg(store, query, 31, 10)


def test_a_newer_version_replaces_the_indexed_vector(store: Store) -> None:
    put(store, {"a": [1.0, 1.0, 1.0, 1.0], "b": [1.0, 1.0, -1.0, -1.0]})
    put(store, {"a": [-1.0, -1.0, -1.0, -1.0]}, version=2)
    rows = index.vector_leg(store, "default", [1.0, 1.0, 1.0, 1.0], MODEL, 5, 1)
    assert [r["id"] for r in rows] == ["b", "a"]
    assert rows[1]["similarity"] == pytest.approx(-1.0)


def test_vectors_stored_before_the_migration_get_their_codes(store: Store) -> None:
    # A store as it was at migration 0010: no index table; vectors already written.
    store.command("DROP VIEW trajectory_vector_index_mv")
    store.command("DROP TABLE trajectory_vector_index")
    store.command("ALTER TABLE schema_migrations DELETE WHERE Version = 11 SETTINGS mutations_sync = 2")
    rng = random.Random(3)
    vectors = {f"v{i}": [rng.gauss(0, 1) for _ in range(70)] for i in range(50)}
    put(store, vectors)
    assert apply_migrations(store) == [11]
    stored = store.query("SELECT TrajectoryId, Code FROM trajectory_vector_index FINAL").rows
    assert {i: list(code) for i, code in stored} == {i: index.sign_code(v) for i, v in vectors.items()}
    query = vectors["v7"]
    assert leg(store, query, 1, 10) == ["v7"]  # itself, found among the 10 nearest codes
    assert leg(store, query, 5, 50) == leg(store, query, 5, 0)  # all 50 preselected: exact


def test_hybrid_reads_both_legs_in_one_query_with_the_same_rows(
    store: Store, fake_embeddings: FakeLLMServer
) -> None:
    store_runs(store, RUNS)
    stage = embed_runs(store, fake_embeddings, RUNS)
    [vector] = stage.embedder.embed(["refund broken kettle"])
    model = stage.embedder.model_key
    both = index.hybrid_legs(store, "default", "refund broken kettle", vector, model, 10, 500)
    assert both["keyword"] == index.keyword_leg(store, "default", "refund broken kettle", 10)
    assert both["vector"] == index.vector_leg(store, "default", vector, model, 10, 500)
    assert len(both["keyword"]) == 3 and len(both["vector"]) == 4


def test_a_negative_preselection_is_a_config_error(store: Store, fake_embeddings: FakeLLMServer) -> None:
    stage = embed_runs(store, fake_embeddings, RUNS[:1])
    with pytest.raises(ConfigError, match="vector_preselect"):
        search(
            store,
            "refund",
            mode="vector",
            embedder=stage.embedder,
            settings=SearchConfig(vector_preselect=-1),
        )
