"""Search trajectories by text: keyword (no model), vector (embeddings) or hybrid (both, fused).

Each leg ranks the first ``candidates`` trajectories that are visible (deleted ones never appear)
and pass the filters (agent, outcome, score range, ...); hybrid merges the two rankings by
reciprocal rank fusion (RRF): a trajectory's relevance is ``sum(1 / (rrf_k + rank))`` over the
legs that found it, so neither leg's raw scale dominates.

The vector leg compares the query exactly only with the ``[search] vector_preselect`` vectors
nearest by sign-bit code (Hamming distance), not with every vector; 0 compares all of them
(trajotel.store.search.vector_leg, migration 0011).

The legs read only the index (trajotel.store.search); visibility, filters and scores are checked
for what they return, a few times ``candidates`` at first, more when the filters left too few:
the answer is the same as filtering everything first, at the cost of a few key lookups.

Scores (``min_score`` / ``max_score``) are a trajectory's quality in [0, 1]: the LLM judge's
score when there is one, else the heuristic stage's, else one derived from the assembled outcome
(success: its confidence, failure: 1 - confidence, partial: 0.5). docs/search.md has the details.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from trajotel.config import SearchConfig
from trajotel.enrich.embed import Embedder
from trajotel.errors import ConfigError, InvalidInputError
from trajotel.store import Store
from trajotel.store import search as index
from trajotel.store.search import FILTERS

Mode = Literal["keyword", "vector", "hybrid"]
MODES: tuple[str, ...] = ("keyword", "vector", "hybrid")
# Candidates a leg reads at first, per one it must rank; multiplied by GROWTH while filters
# leave a leg short of ``candidates`` and the index has more.
OVERFETCH = 4
GROWTH = 8


@dataclass
class SearchHit:
    trajectory_id: str
    tenant: str
    relevance: float  # keyword: keyword_score; vector: similarity; hybrid: the fused RRF value
    keyword_score: float | None = None  # IDF-weighted share of the query's words it contains
    vector_similarity: float | None = None  # cosine similarity of the query's and its vector
    score: float | None = None  # the trajectory's quality score in [0, 1]
    score_source: str = ""
    task: str = ""
    outcome: str = ""
    agent_name: str = ""
    why: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def search(
    store: Store,
    query: str,
    *,
    k: int = 5,
    min_score: float | None = None,
    max_score: float | None = None,
    filters: Mapping[str, str] | None = None,
    mode: Mode | None = None,
    embedder: Embedder | None = None,
    tenant: str = "default",
    settings: SearchConfig | None = None,
) -> list[SearchHit]:
    """The ``k`` trajectories most relevant to ``query``, best first. ``mode`` None is hybrid
    when an embedder is given, else keyword."""
    settings = settings or SearchConfig()
    mode = mode or ("hybrid" if embedder is not None else "keyword")
    filters = dict(filters or {})
    _check(query, k, min_score, max_score, filters, mode, embedder, settings)
    if mode != "vector" and not index.query_has_words(store, query):
        raise InvalidInputError('"query" has no words to match (letters or digits)')
    vector: list[float] = []
    if mode != "keyword":
        assert embedder is not None
        [vector] = embedder.embed([query])

    def read(n: int) -> dict[str, list[dict[str, Any]]]:
        """Each leg's top n; hybrid reads both legs in one query (one round trip)."""
        preselect = settings.vector_preselect
        if mode == "keyword":
            return {"keyword": index.keyword_leg(store, tenant, query, n)}
        assert embedder is not None
        if mode == "vector":
            return {"vector": index.vector_leg(store, tenant, vector, embedder.model_key, n, preselect)}
        return index.hybrid_legs(store, tenant, query, vector, embedder.model_key, n, preselect)

    # Fusion ranks `candidates` per leg; a single leg's order is its answer: k are enough.
    wanted = settings.candidates if mode == "hybrid" else k
    n = wanted * OVERFETCH
    while True:
        found = read(n)
        ids = sorted({row["id"] for rows in found.values() for row in rows})
        facts = index.candidate_facts(store, tenant, ids, filters, min_score, max_score)
        ranked = {leg: [r for r in rows if r["id"] in facts][:wanted] for leg, rows in found.items()}
        # Done when every leg has its candidates, or the index has no more to give.
        if all(len(ranked[leg]) >= wanted or len(rows) < n for leg, rows in found.items()):
            break
        n *= GROWTH
    hits = _fuse(ranked, mode, tenant, settings.rrf_k)[:k]
    _describe(hits, facts)
    return hits


def _check(
    query: str,
    k: int,
    min_score: float | None,
    max_score: float | None,
    filters: Mapping[str, str],
    mode: str,
    embedder: Embedder | None,
    settings: SearchConfig,
) -> None:
    if not isinstance(query, str) or not query.strip():
        raise InvalidInputError('"query" must be a non-empty string')
    if len(query) > settings.max_query_chars:
        raise InvalidInputError(
            f'"query" has {len(query)} characters, more than the limit of {settings.max_query_chars}',
            hint="shorten it, or raise [search] max_query_chars",
        )
    if not 1 <= k <= settings.max_k:
        raise InvalidInputError(f'"k" must be between 1 and {settings.max_k}, got {k}')
    for name, value in (("min_score", min_score), ("max_score", max_score)):
        if value is not None and not 0.0 <= value <= 1.0:
            raise InvalidInputError(f'"{name}" must be in [0, 1] (scores are), got {value}')
    if min_score is not None and max_score is not None and min_score > max_score:
        raise InvalidInputError(f'"min_score" {min_score} is above "max_score" {max_score}')
    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        raise InvalidInputError(
            f"unknown filter {unknown[0]!r}", hint=f"filters: {', '.join(sorted(FILTERS))}"
        )
    if mode not in MODES:
        raise InvalidInputError(f'"mode" must be one of {", ".join(MODES)}, got {mode!r}')
    if settings.vector_preselect < 0:
        raise ConfigError(
            f"[search] vector_preselect must be 0 or more, got {settings.vector_preselect}",
            hint="0 compares every vector (exact); more preselects that many by sign-bit code",
        )
    if mode != "keyword" and embedder is None:
        raise ConfigError(
            f"{mode} search needs an embeddings model, and none is configured",
            hint='set [enrich.embeddings] provider = "openai" or "fastembed", or search with mode "keyword"',
        )


def _fuse(legs: Mapping[str, list[dict[str, Any]]], mode: str, tenant: str, rrf_k: int) -> list[SearchHit]:
    hits: dict[str, SearchHit] = {}
    for leg, rows in legs.items():
        for rank, row in enumerate(rows, start=1):
            hit = hits.setdefault(row["id"], SearchHit(row["id"], tenant, 0.0))
            if leg == "keyword":
                hit.keyword_score = float(row["keyword_score"])
                hit.why.append(f"keyword rank {rank}: matched {', '.join(row['matched'])}")
            else:
                hit.vector_similarity = float(row["similarity"])
                hit.why.append(f"vector rank {rank}: cosine similarity {hit.vector_similarity:.3f}")
            hit.relevance += 1.0 / (rrf_k + rank)
    for hit in hits.values():
        if mode == "keyword":
            hit.relevance = hit.keyword_score or 0.0
        elif mode == "vector":
            hit.relevance = hit.vector_similarity or 0.0
    return sorted(hits.values(), key=lambda h: (-h.relevance, h.trajectory_id))


def _describe(hits: list[SearchHit], facts: Mapping[str, Mapping[str, Any]]) -> None:
    """Fill task, outcome, agent and score of the hits from what the filters read."""
    for hit in hits:
        row = facts[hit.trajectory_id]
        hit.task = row.get("task") or ""
        hit.outcome = row.get("outcome") or ""
        hit.agent_name = row.get("agent_name") or ""
        hit.score = row.get("score")
        hit.score_source = row.get("score_source") or ""
        if hit.score is not None:
            hit.why.append(f"score {hit.score:.2f} from {hit.score_source}")
