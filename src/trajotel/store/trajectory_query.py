"""Finding trajectories by what people filter on, as the views of migration 0006 show them
(edits applied, reward by the reward rule, deleted ones gone): the REST list, and the batch
reader exports use.

Range filters are a table (``RANGES``): a numeric column of the ``trajectories`` view by the
name users filter on. A new score (e.g. an enrichment's) becomes filterable by adding its
column to the view (or a join of it) and one entry here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from trajotel.assemble.model import Feedback, Message, Trajectory
from trajotel.errors import InvalidInputError
from trajotel.store.connection import Store
from trajotel.store.exports import not_exported_condition
from trajotel.store.feedback import read_feedback
from trajotel.store.trajectories import (
    _turn_from,
    load_contents,
    read_trajectory,
    trajectory_from_rows,
    whole_inputs,
)

# filter name -> column of the trajectories view
RANGES: dict[str, str] = {"reward": "reward", "confidence": "outcome_confidence"}
# filter name -> column of the trajectory_scores view (migration 0007: the judge's score, else the
# heuristic stage's); a trajectory without one never matches.
SCORE_RANGES: dict[str, str] = {"score": "score"}

LIST_COLUMNS = (
    "trajectory_id",
    "version",
    "tenant",
    "status",
    "outcome",
    "outcome_confidence",
    "outcome_source",
    "reward",
    "reward_source",
    "human_reviewed",
    "agent_name",
    "service_name",
    "parent_trajectory_id",
    "turn_count",
    "tools_used",
    "models",
    "input_tokens",
    "output_tokens",
    "start_time",
    "end_time",
    "duration_ms",
    "tags",
    "metadata",
    "task",
)


@dataclass
class TrajectoryFilter:
    """Every given condition must hold; lists match any of their values, except ``tags`` (all)."""

    tenant: str | None = None
    ids: Sequence[str] = ()
    agents: Sequence[str] = ()
    services: Sequence[str] = ()
    outcomes: Sequence[str] = ()
    statuses: Sequence[str] = ()
    tags: Sequence[str] = ()
    task_contains: str | None = None
    since: datetime | None = None  # start time, inclusive
    until: datetime | None = None  # start time, exclusive
    # RANGES name -> (min or None, max or None), both inclusive; a missing value never matches.
    ranges: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    # A boolean SQL expression over the trajectories view's columns, ANDed as it is (the caller's
    # own SQL, as trusted as `trajotel query`'s).
    sql: str | None = None
    # Leave out trajectories whose current version this named export already wrote
    # (trajotel.store.exports).
    not_exported_by: str | None = None

    def where(self) -> tuple[str, dict[str, Any]]:
        """A WHERE clause on the trajectories view and its parameters."""
        conditions: list[str] = []
        params: dict[str, Any] = {}

        def add(condition: str, **values: Any) -> None:
            conditions.append(condition)
            params.update(values)

        if self.tenant is not None:
            add("tenant = {tenant:String}", tenant=self.tenant)
        for column, values in (
            ("trajectory_id", self.ids),
            ("agent_name", self.agents),
            ("service_name", self.services),
            ("outcome", self.outcomes),
            ("status", self.statuses),
        ):
            if values:
                add(f"{column} IN {{{column}:Array(String)}}", **{column: list(values)})
        if self.tags:
            add("hasAll(tags, {tags:Array(String)})", tags=list(self.tags))
        if self.task_contains:
            add("positionCaseInsensitiveUTF8(task, {task:String}) > 0", task=self.task_contains)
        if self.since is not None:
            add("start_time >= {since:DateTime64(9, 'UTC')}", since=self.since)
        if self.until is not None:
            add("start_time < {until:DateTime64(9, 'UTC')}", until=self.until)
        for name, (low, high) in self.ranges.items():
            if name in SCORE_RANGES:
                bounds = [
                    f"{SCORE_RANGES[name]} {op} {{{key}_{name}:Float64}}"
                    for op, key, value in ((">=", "min", low), ("<=", "max", high))
                    if value is not None
                ]
                add(
                    "(tenant, trajectory_id) IN (SELECT tenant, trajectory_id FROM trajectory_scores "
                    f"WHERE {' AND '.join(bounds or ['1'])})",
                    **{f"{key}_{name}": v for key, v in (("min", low), ("max", high)) if v is not None},
                )
                continue
            column = RANGES[name]
            if low is not None:
                add(f"{column} >= {{min_{name}:Float64}}", **{f"min_{name}": low})
            if high is not None:
                add(f"{column} <= {{max_{name}:Float64}}", **{f"max_{name}": high})
        if self.sql and self.sql.strip():
            add(f"({self.sql})")
        if self.not_exported_by is not None:
            condition, values = not_exported_condition(self.not_exported_by)
            add(condition, **values)
        return (" AND ".join(conditions) or "1"), params


def list_trajectory_rows(
    store: Store, where: TrajectoryFilter, *, limit: int = 50, offset: int = 0
) -> list[dict[str, Any]]:
    """Summary rows, newest first (start time, then id: pages are stable)."""
    condition, params = where.where()
    return store.query(
        f"SELECT {', '.join(LIST_COLUMNS)} FROM trajectories WHERE {condition} "
        "ORDER BY start_time DESC, trajectory_id LIMIT {limit:UInt32} OFFSET {offset:UInt64}",
        {**params, "limit": limit, "offset": offset},
    ).dicts()


def read_trajectories(store: Store, where: TrajectoryFilter, *, page_size: int = 100) -> Iterator[Trajectory]:
    """Every matching trajectory, whole, as ``read_trajectory`` reads it (for exports)."""
    offset = 0
    while True:
        rows = list_trajectory_rows(store, where, limit=page_size, offset=offset)
        for row in rows:
            found = read_trajectory(store, row["trajectory_id"], tenant=row["tenant"])
            if found is not None:  # deleted since the page was read
                yield found
        if len(rows) < page_size:
            return
        offset += page_size


def trajectory_tenant(store: Store, trajectory_id: str, tenant: str | None = None) -> str | None:
    """The tenant of a live trajectory with this id (the given one, if it has it), else None."""
    condition = "trajectory_id = {id:String}" + (
        " AND tenant = {tenant:String}" if tenant is not None else ""
    )
    rows = store.query(
        f"SELECT tenant FROM trajectories WHERE {condition} ORDER BY tenant LIMIT 1",
        {"id": trajectory_id, "tenant": tenant},
    ).rows
    return str(rows[0][0]) if rows else None


# --- batch reading for exports ------------------------------------------------------------------
# Group keys of exports (GRPO / ART groups): name -> expression over the trajectories view. Also
# "metadata.KEY" (a metadata value) and "sql:EXPRESSION" (any expression over the view).
GROUP_KEYS: dict[str, str] = {
    "": "''",
    "task": "task",
    "task_and_agent": "concat(agent_name, '\\n', task)",
    "agent": "agent_name",
    "service": "service_name",
}

# Message bodies read per query: the embedded engine slows down by orders of magnitude once a
# query's parameters pass about 900 KB (28,000 hashes took 100 s where 26,000 took 0.1 s).
CONTENT_CHUNK = 5000

# The trajectories view's columns under trajectories_data's names (what trajectory_from_rows reads).
_PAGE_COLUMNS = """
    tenant AS Tenant, trajectory_id AS TrajectoryId, version AS Version, service_name AS ServiceName,
    agent_name AS AgentName, agent_id AS AgentId, task AS Task, framework AS Framework,
    trace_ids AS TraceIds, root_span_id AS RootSpanId, parent_trajectory_id AS ParentTrajectoryId,
    conversation_id AS ConversationId, toUnixTimestamp64Nano(start_time) AS StartNs,
    toUnixTimestamp64Nano(end_time) AS EndNs, status AS Status, outcome AS OutcomeLabel,
    outcome_confidence AS OutcomeConfidence, outcome_reasons AS OutcomeReasons,
    outcome_source AS OutcomeSource, reward AS Reward, tags AS Tags, metadata AS Metadata,
    models AS Models, tools_used AS ToolsUsed, turn_count AS TurnCount, span_count AS SpanCount,
    input_tokens AS InputTokens, output_tokens AS OutputTokens,
    toUnixTimestamp64Nano(toDateTime64(assembled_at, 9)) AS AssembledNs
"""
# Columns the view does not show; people never edit them, so the version's own row holds them.
_EXTRA_COLUMNS = (
    "CacheReadInputTokens",
    "CacheWriteInputTokens",
    "ReasoningOutputTokens",
    "SystemInstructions",
    "ToolDefinitions",
)


def group_key_expression(key: str) -> tuple[str, dict[str, Any]]:
    """SQL (and its parameters) of an export group key: a GROUP_KEYS name, ``metadata.KEY`` or
    ``sql:EXPRESSION``."""
    if key in GROUP_KEYS:
        return GROUP_KEYS[key], {}
    if key.startswith("metadata.") and len(key) > len("metadata."):
        return "metadata[{page_group_key:String}]", {"page_group_key": key[len("metadata.") :]}
    if key.startswith("sql:") and key[4:].strip():
        return f"({key[4:]})", {}
    raise InvalidInputError(
        f"unknown group key {key!r}",
        hint=f"use one of {', '.join(k for k in GROUP_KEYS if k)}, metadata.KEY or sql:EXPRESSION",
    )


def count_trajectories(store: Store, where: TrajectoryFilter) -> int:
    condition, params = where.where()
    return int(store.query(f"SELECT count() FROM trajectories WHERE {condition}", params).rows[0][0])


def read_trajectory_pages(
    store: Store,
    where: TrajectoryFilter,
    *,
    group_key: str = "",
    page_size: int = 1000,
    page_turns: int = 20_000,
) -> Iterator[list[tuple[str, Trajectory]]]:
    """Every matching trajectory, as ``read_trajectory`` reads it, in pages of (group key value,
    trajectory), ordered by tenant, group key and id: a group's members are consecutive.

    Keyset pagination: each page is a few queries (its rows, their turns, message bodies and
    feedback, each batched), so memory depends on the page, not on how many match. A page holds
    at most ``page_size`` trajectories and, past its first, ``page_turns`` turns. Each trajectory
    is read once even while new versions arrive; a page's turns share parsed messages, so treat
    the trajectories as read-only."""
    condition, params = where.where()
    key_sql, key_params = group_key_expression(group_key)
    after: tuple[str, str, str] | None = None
    while True:
        keyset = ""
        page_params: dict[str, Any] = {**params, **key_params, "page_limit": page_size}
        if after is not None:
            keyset = (
                " AND (tenant, GroupKey, trajectory_id) > ({page_t:String}, {page_g:String}, {page_i:String})"
            )
            page_params.update(page_t=after[0], page_g=after[1], page_i=after[2])
        rows = store.query(
            f"SELECT {_PAGE_COLUMNS}, toString({key_sql}) AS GroupKey FROM trajectories "
            f"WHERE ({condition}){keyset} ORDER BY tenant, GroupKey, trajectory_id "
            "LIMIT {page_limit:UInt32}",
            page_params,
        ).dicts()
        if not rows:
            return
        more = len(rows) == page_size
        kept, turns = [], 0
        for row in rows:
            if kept and turns + row["TurnCount"] > page_turns:
                more = True
                break
            kept.append(row)
            turns += row["TurnCount"]
        yield _load_page(store, kept)
        if not more:
            return
        last = kept[-1]
        after = (last["Tenant"], last["GroupKey"], last["TrajectoryId"])


def _load_page(store: Store, rows: list[dict[str, Any]]) -> list[tuple[str, Trajectory]]:
    keys = [(r["Tenant"], r["TrajectoryId"], int(r["Version"])) for r in rows]
    extras = {
        (str(row[0]), str(row[1]), int(row[2])): row[3:]
        for row in store.query(
            f"SELECT Tenant, TrajectoryId, Version, {', '.join(_EXTRA_COLUMNS)} FROM trajectories_data "
            "WHERE (Tenant, TrajectoryId, Version) IN {keys:Array(Tuple(String, String, UInt64))} "
            "LIMIT 1 BY Tenant, TrajectoryId, Version",
            {"keys": keys},
        ).rows
    }
    turn_rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for turn in store.query(
        "SELECT *, toUnixTimestamp64Nano(StartTime) AS StartNs, toUnixTimestamp64Nano(EndTime) AS EndNs "
        "FROM turns_current "
        "WHERE (Tenant, TrajectoryId, Version) IN {keys:Array(Tuple(String, String, UInt64))} "
        "ORDER BY Tenant, TrajectoryId, TurnIndex",
        {"keys": keys},
    ).dicts():
        turn_rows.setdefault((turn["Tenant"], turn["TrajectoryId"]), []).append(turn)
    for turns in turn_rows.values():
        whole_inputs(turns)
    wanted = sorted(
        {
            (tenant, h)
            for (tenant, _), turns in turn_rows.items()
            for t in turns
            for h in (*t["InputMessageHashes"], *t["OutputMessageHashes"])
        }
    )
    contents: dict[str, dict[str, str]] = {}
    for start in range(0, len(wanted), CONTENT_CHUNK):
        for (tenant, digest), text in load_contents(store, wanted[start : start + CONTENT_CHUNK]).items():
            contents.setdefault(tenant, {})[digest] = text
    feedback: dict[tuple[str, str], list[Feedback]] = {}
    for tenant in {r["Tenant"] for r in rows}:
        ids = [r["TrajectoryId"] for r in rows if r["Tenant"] == tenant]
        feedback.update(((tenant, i), f) for i, f in read_feedback(store, tenant, ids).items())
    parsed: dict[str, dict[str, Message]] = {}
    out: list[tuple[str, Trajectory]] = []
    for row, key in zip(rows, keys, strict=True):
        extra = extras.get(key)
        if extra is None:  # its version was retired since the page was read: it has a newer one
            continue
        row.update(zip(_EXTRA_COLUMNS, extra, strict=True))
        tenant, trajectory_id, _ = key
        cache = parsed.setdefault(tenant, {})
        bodies = contents.get(tenant, {})
        turns = [_turn_from(t, bodies, cache) for t in turn_rows.get((tenant, trajectory_id), [])]
        trajectory = trajectory_from_rows(row, turns, feedback.get((tenant, trajectory_id), []))
        out.append((str(row["GroupKey"]), trajectory))
    return out
