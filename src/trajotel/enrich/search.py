"""Search trajectories by text: keyword (no model), vector (embeddings) or hybrid (both, fused).

Each leg ranks at most ``candidates`` trajectories that pass the filters (tenant, agent, outcome,
score range, ...) and are visible in the ``trajectories`` view (so deleted ones never appear);
hybrid merges the two rankings by reciprocal rank fusion (RRF): a trajectory's relevance is
``sum(1 / (rrf_k + rank))`` over the legs that found it, so neither leg's raw scale dominates.

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
from trajotel.enrich.results import FILTERS  # the same filters as `trajotel enrich`
from trajotel.errors import ConfigError, InvalidInputError
from trajotel.store import Store

Mode = Literal["keyword", "vector", "hybrid"]
MODES: tuple[str, ...] = ("keyword", "vector", "hybrid")

# A trajectory's quality score and where it came from: the judge's or heuristic stage's score
# (`trajectory_scores`, migration 0007) wins over one derived from the assembled outcome.
_OUTCOME_SCORE = (
    "multiIf(t.outcome = 'success', t.outcome_confidence, t.outcome = 'failure', 1 - t.outcome_confidence, "
    "t.outcome = 'partial', 0.5, NULL)"
)
_SCORED = f"""
    SELECT t.*,
        if(s.score_source != '', s.score, {_OUTCOME_SCORE}) AS score,
        if(s.score_source != '', s.score_source, if(score IS NULL, '', 'outcome')) AS score_source
    FROM trajectories AS t
    LEFT JOIN trajectory_scores AS s ON s.tenant = t.tenant AND s.trajectory_id = t.trajectory_id
"""


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
    _check(query, k, min_score, max_score, filters or {}, mode, embedder, settings)
    allowed, params = _candidate_filter(tenant, min_score, max_score, filters or {})
    params |= {"query": query, "tenant": tenant, "n": settings.candidates}
    legs: dict[str, list[dict[str, Any]]] = {}
    if mode in ("keyword", "hybrid"):
        legs["keyword"] = _keyword_leg(store, allowed, params)
    if mode in ("vector", "hybrid"):
        assert embedder is not None
        legs["vector"] = _vector_leg(store, allowed, params, embedder)
    hits = _fuse(legs, mode, tenant, settings.rrf_k)[:k]
    _describe(store, hits, tenant)
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
    if mode != "keyword" and embedder is None:
        raise ConfigError(
            f"{mode} search needs an embeddings model, and none is configured",
            hint='set [enrich.embeddings] provider = "openai" or "fastembed", or search with mode "keyword"',
        )


def _candidate_filter(
    tenant: str, min_score: float | None, max_score: float | None, filters: Mapping[str, str]
) -> tuple[str, dict[str, Any]]:
    """SQL selecting the ids of the visible trajectories that pass every filter."""
    conditions = ["tenant = {tenant:String}"]
    params: dict[str, Any] = {}
    for name, value in filters.items():
        conditions.append(FILTERS[name])
        params[f"f_{name}"] = str(value)
    if min_score is not None:
        conditions.append("score >= {min_score:Float64}")
        params["min_score"] = min_score
    if max_score is not None:
        conditions.append("score <= {max_score:Float64}")
        params["max_score"] = max_score
    # The scores' view costs as much again as `trajectories`: join it only to filter on scores.
    source = _SCORED if min_score is not None or max_score is not None else "SELECT * FROM trajectories"
    return f"SELECT trajectory_id FROM ({source}) WHERE {' AND '.join(conditions)}", params


def _keyword_leg(store: Store, allowed: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Rank by the IDF-weighted share of the query's distinct words a trajectory's text contains
    (BM25 without term frequencies: the indexed text is short and mostly distinct words). Reads
    only the postings of the query's words (trajectory_search_terms, migration 0008)."""
    if not store.query("SELECT length(tokens(lowerUTF8({query:String})))", params).rows[0][0]:
        raise InvalidInputError('"query" has no words to match (letters or digits)')
    sql = f"""
        WITH
            arrayDistinct(tokens(lowerUTF8({{query:String}}))) AS q,
            assumeNotNull((SELECT count() FROM trajectory_search_text FINAL
                WHERE Tenant = {{tenant:String}})) AS docs,
            log(1 + (docs + 0.5) / 0.5) AS unseen_idf,
            postings AS (
                SELECT Term, TrajectoryId FROM trajectory_search_terms FINAL
                WHERE Tenant = {{tenant:String}} AND Term IN q
                    AND (TrajectoryId, TrajectoryVersion) IN (SELECT TrajectoryId, TrajectoryVersion
                        FROM trajectory_search_text FINAL WHERE Tenant = {{tenant:String}})
            ),
            weights AS (
                SELECT Term, log(1 + (docs - count() + 0.5) / (count() + 0.5)) AS idf
                FROM postings GROUP BY Term
            ),
            assumeNotNull((SELECT sum(idf) + (length(q) - count()) * unseen_idf FROM weights)) AS total
        SELECT p.TrajectoryId AS id, sum(w.idf) / total AS keyword_score, groupArray(p.Term) AS matched
        FROM postings AS p INNER JOIN weights AS w USING Term
        WHERE p.TrajectoryId IN ({allowed})
        GROUP BY id
        ORDER BY keyword_score DESC, id
        LIMIT {{n:UInt32}}
    """
    return store.query(sql, params).dicts()


def _vector_leg(
    store: Store, allowed: str, params: dict[str, Any], embedder: Embedder
) -> list[dict[str, Any]]:
    [vector] = embedder.embed([params["query"]])
    sql = f"""
        SELECT TrajectoryId AS id, 1 - cosineDistance(Vector, {{vector:Array(BFloat16)}}) AS similarity
        FROM trajectory_vectors FINAL
        WHERE Tenant = {{tenant:String}} AND Model = {{model:String}}
            AND length(Vector) = {{dimensions:UInt32}} AND TrajectoryId IN ({allowed})
        ORDER BY similarity DESC, id
        LIMIT {{n:UInt32}}
    """
    more = {"vector": vector, "model": embedder.model_key, "dimensions": len(vector)}
    return store.query(sql, params | more).dicts()


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


def _describe(store: Store, hits: list[SearchHit], tenant: str) -> None:
    """Fill task, outcome, agent and score of the hits (one query for all of them)."""
    if not hits:
        return
    rows = store.query(
        f"SELECT trajectory_id, task, outcome, agent_name, score, score_source FROM ({_SCORED}) "
        "WHERE tenant = {tenant:String} AND trajectory_id IN {ids:Array(String)}",
        {"tenant": tenant, "ids": [h.trajectory_id for h in hits]},
    ).dicts()
    found = {row["trajectory_id"]: row for row in rows}
    for hit in hits:
        row = found.get(hit.trajectory_id, {})
        hit.task = row.get("task") or ""
        hit.outcome = row.get("outcome") or ""
        hit.agent_name = row.get("agent_name") or ""
        hit.score = row.get("score")
        hit.score_source = row.get("score_source") or ""
        if hit.score is not None:
            hit.why.append(f"score {hit.score:.2f} from {hit.score_source}")
