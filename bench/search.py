#!/usr/bin/env python
"""Search latency (issue 5, item 6): p50/p99 of ``trajotel.enrich.search.search`` with k=5 over
100,000 trajectories in the embedded store, keyword, vector and hybrid.

    .venv/bin/python bench/search.py [--trajectories N] [--dimensions D] [--queries Q] [--json OUT]

The store is real (chdb, migrations applied) and filled with synthetic rows by
``INSERT ... SELECT ... FROM numbers(N)`` in the engine, not by agent runs (100,000 runs would
take hours here). What is synthetic:
* ``trajectories_data``: one complete version per trajectory, 4 agents, outcomes success /
  partial / failure with confidences, so the score filter has something to filter;
* ``trajectory_search_text``: a task of 6 words and an answer of 30 words drawn from a 5,000-word
  vocabulary with a Zipf-like skew (word ``w{i}``, small i frequent), plus tool and agent names:
  ~300 characters, about what the keywords stage indexes for a short run;
* ``trajectory_vectors``: random vectors (components uniform in [-1, 1]) of D dimensions
  (default 384, the local model's size; ``--dimensions 1536`` is text-embedding-3-small's).
Queries are 3 vocabulary words (keyword) and a random vector (vector; embedding the query is not
timed: it is the model's latency, not the store's). Each mode runs Q queries after 5 warm-up
queries; also with a score filter (``max_score=0.5``), the acceptance case "failing runs".

Recall: the vector leg compares exactly only the ``[search] vector_preselect`` vectors nearest by
sign-bit code; recall@k is the share of the exact top k (every vector compared) it returns, for
--recall-queries queries and several preselection sizes, on two sets of N vectors in a database
of their own (after the timing; "before" trees without preselection skip it): ``random`` (the
timed set's vectors: no structure, so the exact neighbours are barely nearer than the rest, a
worst case) and ``clustered`` (1,000 topics, each topic's vector plus as much noise: cosine
~0.5 within a topic, ~0 across, as embeddings of related texts are).

The code under test is the ``trajotel`` package Python imports (PYTHONPATH first, else this
tree's src/); it is printed, so side-by-side runs of two trees are told apart. The load average
of the machine before and after the run is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trajotel.store import Store

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "search.json"
TARGET_P99_MS = 100.0
VOCABULARY = 5000
MODEL_KEY = "bench-random"
CLUSTERED_KEY = "bench-clustered"
TOPICS = 1000
RECALL_PRESELECT = (100, 200, 500, 1000, 2000)


class RandomQueryEmbedder:
    """A query vector without a model: the store's latency is what is measured."""

    model_key = MODEL_KEY

    def __init__(self, dimensions: int, seed: int) -> None:
        self.dimensions = dimensions
        self.rng = random.Random(seed)

    def embed(self, texts: list[str]) -> list[list[float]]:
        return [[self.rng.gauss(0.0, 1.0) for _ in range(self.dimensions)] for _ in texts]


def zipf_word(expr: str) -> str:
    """SQL: a vocabulary word, skewed so low indexes are frequent (square of a uniform)."""
    return f"concat('w', toString(toUInt32(pow(({expr}) % 10000 / 10000, 2) * {VOCABULARY})))"


def fill(store: Store, n: int, dimensions: int) -> float:
    started = time.perf_counter()
    store.command(f"""
        INSERT INTO trajectories_data (Tenant, TrajectoryId, Version, AgentName, Task, Status,
            OutcomeLabel, OutcomeConfidence, StartTime, EndTime, TurnCount, ContentHash, AssembledAt)
        SELECT 'default', concat('bench-', toString(number)), 1,
            concat('agent-', toString(number % 4)),
            concat('task ', toString(number)), 'complete',
            ['success', 'success', 'partial', 'failure'][number % 4 + 1],
            0.6 + (number % 5) / 10,
            now64(9) - toIntervalSecond(number), now64(9) - toIntervalSecond(number) + 30,
            number % 20 + 1, '', now64(6)
        FROM numbers({n})
    """)

    def words(count: int, salt: int) -> str:
        word = zipf_word(f"cityHash64(number, i, {salt})")
        return f"arrayStringConcat(arrayMap(i -> {word}, range({count})), ' ')"

    store.command(f"""
        INSERT INTO trajectory_search_text (Tenant, TrajectoryId, TrajectoryVersion, Text)
        SELECT 'default', concat('bench-', toString(number)), 1,
            concat({words(6, 1)}, '\\n', {words(30, 2)}, '\\nsearch_files read_file agent-',
                toString(number % 4))
        FROM numbers({n})
    """)
    fill_vectors(store, n, MODEL_KEY, random_vector("number", dimensions))
    tables = ["trajectories_data", "trajectory_search_text", "trajectory_vectors"]
    if store.query("EXISTS TABLE trajectory_vector_index").rows[0][0]:  # migration 0011 on
        tables.append("trajectory_vector_index")
    for table in tables:
        store.command(f"OPTIMIZE TABLE {table} FINAL")
    return time.perf_counter() - started


def fill_vectors(store: Store, n: int, model: str, vector: str) -> None:
    store.command(f"""
        INSERT INTO trajectory_vectors (Tenant, TrajectoryId, TrajectoryVersion, Model, Vector, Text)
        SELECT 'default', concat('bench-', toString(number)), 1, '{model}', {vector}, ''
        FROM numbers({n})
    """)


def random_vector(number: str, dimensions: int) -> str:
    """SQL: components uniform in [-1, 1]."""
    return f"arrayMap(i -> toFloat32((cityHash64({number}, i) % 20001) / 10000 - 1), range({dimensions}))"


def clustered_vector(number: str, dimensions: int) -> str:
    """SQL: member ``number`` of topic ``number % TOPICS``: the topic's vector plus noise."""
    topic = f"(cityHash64({number} % {TOPICS}, i, 1) % 20001) / 10000 - 1"
    noise = f"(cityHash64({number}, i, 2) % 20001) / 10000 - 1"
    return f"arrayMap(i -> toFloat32({topic} + {noise}), range({dimensions}))"


def recall(store: Store, n: int, dimensions: int, queries: int, k: int = 5) -> list[dict] | None:
    """recall@k of the preselection against the exact scan, per vector set and preselection size;
    None when the code under test has no preselection (the tree before it)."""
    from trajotel.store import search as index

    if not hasattr(index, "sign_code"):
        return None
    # Its own database: a second set of vectors beside the timed one slows the timed scan
    # (a model's rows no longer fill the part: 30 -> 80 ms for the exact scan here).
    fill_vectors(store, n, MODEL_KEY, random_vector("number", dimensions))
    fill_vectors(store, n, CLUSTERED_KEY, clustered_vector("number", dimensions))
    for table in ("trajectory_vectors", "trajectory_vector_index"):
        store.command(f"OPTIMIZE TABLE {table} FINAL")
    rng = random.Random(5)
    random_queries = [[rng.gauss(0.0, 1.0) for _ in range(dimensions)] for _ in range(queries)]
    members = ", ".join(str(n + i) for i in range(queries))
    clustered_queries = [
        [float(v) for v in row[0]]
        for row in store.query(
            f"SELECT {clustered_vector('number', dimensions)} FROM (SELECT arrayJoin([{members}]) AS number)"
        ).rows
    ]
    rows = []
    for kind, model, vectors in (
        ("random", MODEL_KEY, random_queries),
        ("clustered", CLUSTERED_KEY, clustered_queries),
    ):
        exact = [{r["id"] for r in index.vector_leg(store, "default", v, model, k, 0)} for v in vectors]
        for preselect in RECALL_PRESELECT:
            found = [
                len(truth & {r["id"] for r in index.vector_leg(store, "default", v, model, k, preselect)})
                for v, truth in zip(vectors, exact, strict=True)
            ]
            rows.append(
                {
                    "vectors": kind,
                    "vector_preselect": preselect,
                    "queries": queries,
                    f"recall_at_{k}": round(sum(found) / (k * len(vectors)), 3),
                    "queries_with_all_k": sum(f == k for f in found),
                }
            )
    return rows


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(store: Store, mode: str, queries: int, dimensions: int, **filters: float) -> dict:
    from trajotel.enrich.search import search

    rng = random.Random(7)
    embedder = RandomQueryEmbedder(dimensions, seed=11)
    timings = []
    for i in range(queries + 5):
        query = " ".join(f"w{int(rng.random() ** 2 * VOCABULARY)}" for _ in range(3))
        started = time.perf_counter()
        hits = search(store, query, k=5, mode=mode, embedder=embedder, **filters)
        elapsed = (time.perf_counter() - started) * 1000
        if i >= 5:
            timings.append(elapsed)
        assert hits, f"{mode} search for {query!r} found nothing"
    return {
        "mode": mode,
        "filters": filters,
        "queries": queries,
        "p50_ms": round(statistics.median(timings), 1),
        "p99_ms": round(percentile(timings, 0.99), 1),
        "max_ms": round(max(timings), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trajectories", type=int, default=100_000)
    parser.add_argument("--dimensions", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--recall-queries", type=int, default=50)
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args()
    # PYTHONPATH (another tree, for side-by-side runs) comes first; this tree's src/ otherwise.
    sys.path.append(str(ROOT / "src"))
    import trajotel
    from trajotel.config import SearchConfig
    from trajotel.store import Store

    load_before = os.getloadavg()
    print(f"trajotel from {Path(trajotel.__file__).parent}; load average {load_before}", flush=True)

    with tempfile.TemporaryDirectory(prefix="trajotel-search-bench-") as tmp:
        store = Store.open(f"chdb://{tmp}")
        try:
            fill_s = fill(store, args.trajectories, args.dimensions)
            print(f"filled {args.trajectories} trajectories in {fill_s:.1f} s", flush=True)
            results = []
            for mode in ("keyword", "vector", "hybrid"):
                for filters in ({}, {"max_score": 0.5}):
                    row = measure(store, mode, args.queries, args.dimensions, **filters)
                    results.append(row)
                    print(json.dumps(row), flush=True)
        finally:
            store.close()
        recall_store = Store.open(f"chdb://{tmp}", database="bench_recall")
        try:
            recalls = recall(recall_store, args.trajectories, args.dimensions, args.recall_queries)
            for row in recalls or []:
                print(json.dumps(row), flush=True)
        finally:
            recall_store.close()
    report = {
        "trajotel": str(Path(trajotel.__file__).parent),
        "trajectories": args.trajectories,
        "dimensions": args.dimensions,
        "k": 5,
        "vector_preselect": getattr(SearchConfig(), "vector_preselect", None),
        "target_p99_ms": TARGET_P99_MS,
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "fill_s": round(fill_s, 1),
        "results": results,
        "recall": recalls,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
