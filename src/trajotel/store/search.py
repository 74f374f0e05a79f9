"""The SQL of trajectory search (migration 0008's index tables; trajotel.enrich.search ranks).

Both legs read only the index tables of one tenant and return their top ``n``; what a search may
show (visible, filters, score range) is then decided for those candidates alone by
``candidate_facts``, which reads the base tables by primary key instead of the ``trajectories``
view (that view computes every trajectory's current row before any filter applies: hundreds of
milliseconds at 100,000 trajectories, where a key lookup takes a few).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from trajotel.assemble.subagents import with_top_level_ids
from trajotel.store.connection import Store

# Search filters -> a condition on candidate_facts' columns (the `trajectories` view's names,
# so `trajotel enrich` filters read the same). Values are bound as parameters f_<name>.
FILTERS: dict[str, str] = {
    "tenant": "tenant = {f_tenant:String}",
    "agent": "agent_name = {f_agent:String}",
    "service": "service_name = {f_service:String}",
    "outcome": "outcome = {f_outcome:String}",
    "task": "positionCaseInsensitiveUTF8(task, {f_task:String}) > 0",
    "since": "start_time >= parseDateTime64BestEffort({f_since:String}, 9, 'UTC')",
    "until": "start_time < parseDateTime64BestEffort({f_until:String}, 9, 'UTC')",
}


# (tenant, trajectory id, version, text) and, for vectors, the vector as well.
IndexedText = tuple[str, str, int, str]


def write_search_text(store: Store, items: Iterable[IndexedText]) -> int:
    """Index texts for keyword search. The postings come from the materialized view of
    migration 0008; the words an older version had and this text has not are marked removed
    first, so that reads need no version check (ReplacingMergeTree's is_deleted column)."""
    rows = [{"Tenant": a, "TrajectoryId": b, "TrajectoryVersion": v, "Text": text} for a, b, v, text in items]
    for tenant in sorted({row["Tenant"] for row in rows}):
        mine = [row for row in rows if row["Tenant"] == tenant]
        store.command(
            """
            INSERT INTO trajectory_search_terms (Tenant, Term, TrajectoryId, TrajectoryVersion, Removed)
            SELECT old.Tenant, old.Term, old.TrajectoryId, new.Version, 1
            FROM
            (
                SELECT Tenant, TrajectoryId, arrayJoin(arrayDistinct(tokens(lowerUTF8(Text)))) AS Term
                FROM trajectory_search_text FINAL
                WHERE Tenant = {tenant:String} AND TrajectoryId IN {ids:Array(String)}
            ) AS old
            INNER JOIN
            (
                SELECT item.1 AS TrajectoryId, item.2 AS Version,
                    arrayDistinct(tokens(lowerUTF8(item.3))) AS Terms
                FROM (SELECT arrayJoin({items:Array(Tuple(String, UInt64, String))}) AS item)
            ) AS new ON old.TrajectoryId = new.TrajectoryId
            WHERE NOT has(new.Terms, old.Term)
            """,
            {
                "tenant": tenant,
                "ids": [row["TrajectoryId"] for row in mine],
                "items": [(row["TrajectoryId"], row["TrajectoryVersion"], row["Text"]) for row in mine],
            },
        )
    return store.insert_json_rows("trajectory_search_text", rows)


def write_vectors(
    store: Store, model_key: str, items: Iterable[tuple[str, str, int, str, Sequence[float]]]
) -> int:
    """Store embedding vectors of ``model_key`` (one per trajectory, replaced by newer versions)."""
    rows = [
        {
            "Tenant": tenant,
            "TrajectoryId": trajectory_id,
            "TrajectoryVersion": version,
            "Model": model_key,
            "Vector": [float(v) for v in vector],
            "Text": text,
        }
        for tenant, trajectory_id, version, text, vector in items
    ]
    return store.insert_json_rows("trajectory_vectors", rows)


def query_has_words(store: Store, query: str) -> bool:
    """Whether the query has a word the keyword index could hold (the same tokenizer)."""
    return bool(store.query("SELECT length(tokens(lowerUTF8({q:String})))", {"q": query}).rows[0][0])


def keyword_leg(store: Store, tenant: str, query: str, n: int) -> list[dict[str, Any]]:
    """The top ``n`` by the IDF-weighted share of the query's distinct words a trajectory's text
    contains (BM25 without term frequencies: the indexed text is short and mostly distinct
    words): id, keyword_score, matched. Reads only the postings of the query's words."""
    sql, params = _keyword_sql(query, tenant, n)
    return store.query(sql, params).dicts()


def _keyword_sql(query: str, tenant: str, n: int) -> tuple[str, dict[str, Any]]:
    # The postings are read once: window functions give each posting its word's document
    # frequency (idf) and the whole query's idf total (words found nowhere count as unseen).
    sql = """
        WITH
            arrayDistinct(tokens(lowerUTF8({query:String}))) AS q,
            assumeNotNull((SELECT count() FROM trajectory_search_text FINAL
                WHERE Tenant = {tenant:String})) AS docs
        SELECT id, sum(idf) / any(total) AS keyword_score, groupArray(Term) AS matched
        FROM
        (
            SELECT Term, id, idf,
                sum(idf / df) OVER () + (length(q) - round(sum(1 / df) OVER ())) * log(1 + (docs + 0.5) / 0.5)
                    AS total
            FROM
            (
                SELECT Term, TrajectoryId AS id, count() OVER (PARTITION BY Term) AS df,
                    log(1 + (docs - df + 0.5) / (df + 0.5)) AS idf
                FROM trajectory_search_terms FINAL
                WHERE Tenant = {tenant:String} AND Term IN q
            )
        )
        GROUP BY id
        ORDER BY keyword_score DESC, id
        LIMIT {n:UInt32}
    """
    return sql, {"query": query, "tenant": tenant, "n": n}


def sign_code(vector: Sequence[float]) -> list[int]:
    """The sign-bit code of a query vector, as migration 0011 computes a stored vector's: bit i
    of word j is set when component 64 * j + i is > 0."""
    return [
        sum(1 << i for i, value in enumerate(vector[start : start + 64]) if value > 0)
        for start in range(0, len(vector), 64)
    ]


def _vector_sql(
    tenant: str, vector: Sequence[float], model_key: str, n: int, preselect: int
) -> tuple[str, dict[str, Any]]:
    # The vector travels as text, cast once in the query: a bound Array(BFloat16) parameter of
    # 384 numbers took 2-4 ms to parse, the same text as a String and a CAST under 1 ms.
    text = "[" + ",".join(repr(float(v)) for v in vector) + "]"
    params = {"vector": text, "tenant": tenant, "model": model_key, "dimensions": len(vector), "n": n}
    if preselect <= 0:
        # Exact: every vector of the model compared with the query.
        sql = """
            SELECT TrajectoryId AS id,
                1 - cosineDistance(Vector, CAST({vector:String}, 'Array(BFloat16)')) AS similarity
            FROM trajectory_vectors FINAL
            WHERE Tenant = {tenant:String} AND Model = {model:String} AND length(Vector) = {dimensions:UInt32}
            ORDER BY similarity DESC, id
            LIMIT {n:UInt32}
        """
        return sql, params
    # Preselected by the Hamming distance of sign-bit codes (reads 48 bytes a vector for 384
    # dimensions), then re-ranked exactly. The inner ORDER BY ... LIMIT reads `Vector` only for
    # the rows it keeps (lazy materialization; trajectory_vector_index's 16-row granules make
    # that a few KB each: migration 0011). The preselection is never smaller than n.
    sql = """
        SELECT id, 1 - cosineDistance(Vector, CAST({vector:String}, 'Array(BFloat16)')) AS similarity
        FROM
        (
            SELECT TrajectoryId AS id, Vector,
                arraySum(arrayMap((a, b) -> bitCount(bitXor(a, b)), Code, {code:Array(UInt64)})) AS hamming
            FROM trajectory_vector_index FINAL
            WHERE Tenant = {tenant:String} AND Model = {model:String} AND Dimensions = {dimensions:UInt32}
            ORDER BY hamming, id
            LIMIT {preselect:UInt32}
        )
        ORDER BY similarity DESC, id
        LIMIT {n:UInt32}
    """
    return sql, params | {"code": sign_code(vector), "preselect": max(preselect, n)}


def vector_leg(
    store: Store, tenant: str, vector: Sequence[float], model_key: str, n: int, preselect: int = 0
) -> list[dict[str, Any]]:
    """The top ``n`` by cosine similarity to ``vector`` among the vectors of that model: id,
    similarity. ``preselect`` 0: exact (every vector compared); else only the ``preselect``
    vectors nearest by sign-bit code (``[search] vector_preselect``) are compared exactly."""
    sql, params = _vector_sql(tenant, vector, model_key, n, preselect)
    return store.query(sql, params).dicts()


def hybrid_legs(
    store: Store, tenant: str, query: str, vector: Sequence[float], model_key: str, n: int, preselect: int = 0
) -> dict[str, list[dict[str, Any]]]:
    """Both legs in one query (one round trip, and the engine may run them side by side):
    {"keyword": keyword_leg's rows, "vector": vector_leg's rows}."""
    keyword_sql, params = _keyword_sql(query, tenant, n)
    vector_sql, vector_params = _vector_sql(tenant, vector, model_key, n, preselect)
    sql = f"""
        SELECT 'keyword' AS leg, id, keyword_score AS value, matched FROM ({keyword_sql})
        UNION ALL
        SELECT 'vector' AS leg, id, similarity AS value, [] AS matched FROM ({vector_sql})
    """
    legs: dict[str, list[dict[str, Any]]] = {"keyword": [], "vector": []}
    # UNION ALL promises no order: each leg is sorted again, by the keys of its own ORDER BY.
    for leg, id_, value, matched in store.query(sql, params | vector_params).rows:
        if leg == "keyword":
            legs[leg].append({"id": id_, "keyword_score": value, "matched": list(matched)})
        else:
            legs[leg].append({"id": id_, "similarity": value})
    legs["keyword"].sort(key=lambda row: (-row["keyword_score"], row["id"]))
    legs["vector"].sort(key=lambda row: (-row["similarity"], row["id"]))
    return legs


# What the `trajectories` view (migration 0006) and `trajectory_scores` (0007) say of a few
# trajectories, computed from the base tables restricted to their ids: the newest version not
# retired by a merge; people's outcome edits; hidden when it or its root agent ({root}/...) was
# deleted; the score of the judge, else of the heuristic stage, else one derived from the outcome.
# tests/search/test_search.py checks it against the views.
_FACTS = """
    SELECT t.Tenant AS tenant, t.TrajectoryId AS trajectory_id, t.AgentName AS agent_name,
        t.ServiceName AS service_name, t.Task AS task, t.StartTime AS start_time,
        if(e.OutcomeLabel = '', t.OutcomeLabel, e.OutcomeLabel) AS outcome,
        if(e.OutcomeLabel = '', t.OutcomeConfidence, 1.0) AS outcome_confidence,
        multiIf(s.judge_score IS NOT NULL, s.judge_score, s.heuristic_score IS NOT NULL, s.heuristic_score,
            outcome = 'success', outcome_confidence, outcome = 'failure', 1 - outcome_confidence,
            outcome = 'partial', 0.5, NULL) AS score,
        multiIf(s.judge_score IS NOT NULL, 'judge', s.heuristic_score IS NOT NULL, 'heuristic',
            score IS NOT NULL, 'outcome', '') AS score_source
    FROM
    (
        SELECT Tenant, TrajectoryId, AgentName, ServiceName, Task, StartTime, OutcomeLabel, OutcomeConfidence
        FROM trajectories_data FINAL
        WHERE Tenant = {tenant:String} AND IsDeleted = 0
            AND TrajectoryId IN JSONExtract({ids:String}, 'Array(String)')
    ) AS t
    LEFT JOIN
    (
        SELECT TrajectoryId, OutcomeLabel FROM trajectory_edits FINAL
        WHERE Tenant = {tenant:String} AND TrajectoryId IN JSONExtract({ids:String}, 'Array(String)')
    ) AS e ON t.TrajectoryId = e.TrajectoryId
    LEFT JOIN
    (
        -- The latest successful result of each stage (enrichments_latest), per trajectory.
        SELECT TrajectoryId,
            argMaxIf(Score, (TrajectoryVersion, CreatedAt), Stage = 'judge') AS judge_score,
            argMaxIf(Score, (TrajectoryVersion, CreatedAt), Stage = 'heuristic') AS heuristic_score
        FROM enrichments
        WHERE Tenant = {tenant:String} AND Error = '' AND Stage IN ('judge', 'heuristic')
            AND TrajectoryId IN JSONExtract({ids:String}, 'Array(String)')
        GROUP BY TrajectoryId
    ) AS s ON t.TrajectoryId = s.TrajectoryId
    WHERE t.TrajectoryId NOT IN (
            SELECT TrajectoryId FROM trajectory_edits FINAL
            WHERE Tenant = {tenant:String} AND Deleted = 1
                AND TrajectoryId IN JSONExtract({roots:String}, 'Array(String)'))
        AND splitByChar('/', t.TrajectoryId)[1] NOT IN (
            SELECT TrajectoryId FROM trajectory_edits FINAL
            WHERE Tenant = {tenant:String} AND Deleted = 1
                AND TrajectoryId IN JSONExtract({roots:String}, 'Array(String)'))
"""


def candidate_facts(
    store: Store,
    tenant: str,
    ids: Sequence[str],
    filters: Mapping[str, str],
    min_score: float | None = None,
    max_score: float | None = None,
) -> dict[str, dict[str, Any]]:
    """Of ``ids``, those visible in the tenant that pass every filter and the score range:
    id -> task, outcome, agent_name, score, score_source, ..."""
    if not ids:
        return {}
    conditions = ["1"] + [FILTERS[name] for name in filters]
    params: dict[str, Any] = {f"f_{name}": str(value) for name, value in filters.items()}
    if min_score is not None:
        conditions.append("score >= {min_score:Float64}")
        params["min_score"] = min_score
    if max_score is not None:
        conditions.append("score <= {max_score:Float64}")
        params["max_score"] = max_score
    roots = with_top_level_ids(ids)
    # The id lists travel as JSON text: a bound Array(String) parameter of 800 ids took ~2 ms to
    # parse, JSONExtract of the same ids under 1 ms (and a search passes two lists).
    params |= {"tenant": tenant, "ids": json.dumps(sorted(set(ids))), "roots": json.dumps(roots)}
    rows = store.query(f"SELECT * FROM ({_FACTS}) WHERE {' AND '.join(conditions)}", params).dicts()
    return {row["trajectory_id"]: row for row in rows}
