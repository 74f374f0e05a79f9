"""The SQL of enrichment: which trajectories need a stage, their groups, and writing results
(table ``enrichments``, migration 0007). trajotel.enrich goes through these functions.

A trajectory needs a stage when it is finished (status not ``running``), visible in the
``trajectories`` view, and has no successful row for (its current version, the stage's version).
Failed rows count as attempts: a failure is retried no sooner than ``retry_after_s`` later and at
most ``max_attempts`` times per (trajectory version, stage version); ``force`` ignores all that.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from trajotel.assemble.model import Trajectory
from trajotel.assemble.subagents import top_level_id, with_top_level_ids
from trajotel.errors import InvalidInputError
from trajotel.store.connection import Store
from trajotel.store.search import FILTERS  # the same filters as search
from trajotel.store.trajectories import by_tenant
from trajotel.store.trajectory_query import TrajectoryFilter, read_trajectory_pages

Key = tuple[str, str]  # (tenant, trajectory id)
# How trajectories of the same task are grouped (group-relative judging).
GROUP_KEYS = ("task", "task_and_agent")


class StageOutput(Protocol):
    """What a stage found about one trajectory (trajotel.enrich.stage.StageResult)."""

    score: float | None
    label: str | None
    summary: str | None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    error: str | None

    def result_json(self) -> str: ...


# The column(s) of the `trajectories` view that make a group key ({t}: a table alias).
_GROUP_COLUMNS = {"task": "{t}task", "task_and_agent": "concat({t}task, char(31), {t}agent_name)"}


@dataclass(frozen=True)
class Needs:
    """Which trajectories a stage should (re)process."""

    stage: str
    version: str
    max_attempts: int = 3
    retry_after_s: float = 60.0
    force: bool = False
    group_by: str | None = None
    min_group_size: int = 1
    # (stage, version) whose result must come first: a trajectory version waits until each has
    # a result, or has failed ``max_attempts`` times.
    after: tuple[tuple[str, str], ...] = ()


def _group_column(group_by: str, alias: str = "") -> str:
    if group_by not in _GROUP_COLUMNS:
        raise InvalidInputError(f"unknown group key {group_by!r}", hint=f"use one of {', '.join(GROUP_KEYS)}")
    return _GROUP_COLUMNS[group_by].format(t=alias)


_LIVE = (
    "(SELECT Tenant AS tenant, TrajectoryId AS trajectory_id, Version AS version, Status AS status, "
    "EndTime AS end_time FROM trajectories_live)"
)


def pending(store: Store, needs: Needs, *, limit: int, keys: Iterable[Key] | None = None) -> list[Key]:
    """Finished trajectories that need ``needs.stage`` (oldest end first), at most ``limit``;
    only among ``keys`` when given."""
    conditions = ["t.status != 'running'"]
    params: dict[str, Any] = {
        "stage": needs.stage,
        "version": needs.version,
        "attempts": needs.max_attempts,
        "retry": needs.retry_after_s,
        "limit": limit,
    }
    if not needs.force:
        conditions += [
            "e.ok = 0",
            "e.failures < {attempts:UInt32}",
            "(e.failures = 0 OR e.last_failure < now64(6) - toIntervalMillisecond({retry:Float64} * 1000))",
        ]
    if keys is not None:
        keys = sorted(set(keys))
        conditions.append("(t.tenant, t.trajectory_id) IN {keys:Array(Tuple(String, String))}")
        params["keys"] = keys
    if needs.group_by is not None and needs.min_group_size > 1:
        column = _group_column(needs.group_by)
        conditions.append(
            f"(t.tenant, {_group_column(needs.group_by, 't.')}) IN ("
            f"SELECT tenant, {column} FROM trajectories WHERE status != 'running' AND task != '' "
            "GROUP BY 1, 2 HAVING count() >= {min_size:UInt32})"
        )
        params["min_size"] = needs.min_group_size
    for n, (stage, version) in enumerate(needs.after):
        conditions.append(
            "(t.tenant, t.trajectory_id, t.version) IN ("
            "SELECT Tenant, TrajectoryId, TrajectoryVersion FROM enrichments "
            f"WHERE Stage = {{after_{n}:String}} AND StageVersion = {{after_version_{n}:String}} "
            "GROUP BY 1, 2, 3 HAVING countIf(Error = '') > 0 OR countIf(Error != '') >= {attempts:UInt32})"
        )
        params[f"after_{n}"], params[f"after_version_{n}"] = stage, version
    # Without a group condition, the live versions are enough: the `trajectories` view would
    # also apply people's edits and the reward rule (feedback joins over the whole store), which
    # choosing the work does not need, at several times the cost.
    source = "trajectories" if needs.group_by is not None and needs.min_group_size > 1 else _LIVE
    sql = f"""
        SELECT t.tenant, t.trajectory_id
        FROM {source} AS t
        LEFT JOIN (
            SELECT Tenant, TrajectoryId, TrajectoryVersion, countIf(Error = '') AS ok,
                countIf(Error != '') AS failures, maxIf(CreatedAt, Error != '') AS last_failure
            FROM enrichments
            WHERE Stage = {{stage:String}} AND StageVersion = {{version:String}}
            GROUP BY Tenant, TrajectoryId, TrajectoryVersion
        ) AS e ON e.Tenant = t.tenant AND e.TrajectoryId = t.trajectory_id AND e.TrajectoryVersion = t.version
        WHERE {" AND ".join(conditions)}
        ORDER BY t.end_time, t.trajectory_id
        LIMIT {{limit:UInt32}}
    """
    return [(str(a), str(b)) for a, b in store.query(sql, params).rows]


def group_members(store: Store, keys: Sequence[Key], group_by: str, max_size: int) -> list[list[Key]]:
    """Groups to judge together: each key with the newest other finished trajectories of the same
    tenant and group key, at most ``max_size`` per group (keys of one group share groups)."""
    if not keys:
        return []
    column = _group_column(group_by)
    rows = store.query(
        f"""
        SELECT tenant, {column} AS group_key, trajectory_id, end_time
        FROM trajectories
        WHERE status != 'running' AND task != '' AND (tenant, {column}) IN (
            SELECT tenant, {column} FROM trajectories
            WHERE (tenant, trajectory_id) IN {{keys:Array(Tuple(String, String))}}
        )
        ORDER BY tenant, group_key, end_time DESC, trajectory_id
        """,
        {"keys": sorted(set(keys))},
    ).rows
    wanted = set(keys)
    by_group: dict[tuple[str, str], list[Key]] = {}
    for tenant, group_key, trajectory_id, _ in rows:
        by_group.setdefault((tenant, group_key), []).append((tenant, trajectory_id))
    groups = []
    for members in by_group.values():
        due = [k for k in members if k in wanted]
        others = [k for k in members if k not in wanted]
        for start in range(0, len(due), max_size):
            chunk = due[start : start + max_size]
            groups.append(chunk + others[: max_size - len(chunk)])
    return groups


def select(store: Store, filters: Mapping[str, str], *, limit: int) -> list[Key]:
    """Trajectories matching CLI / API filters (newest first)."""
    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        raise InvalidInputError(
            f"unknown filter {unknown[0]!r}", hint=f"filters: {', '.join(sorted(FILTERS))}"
        )
    conditions = ["status != 'running'"] + [FILTERS[name] for name in filters]
    params: dict[str, Any] = {f"f_{name}": str(value) for name, value in filters.items()}
    params["limit"] = limit
    rows = store.query(
        f"SELECT tenant, trajectory_id FROM trajectories WHERE {' AND '.join(conditions)} "
        "ORDER BY start_time DESC LIMIT {limit:UInt32}",
        params,
    ).rows
    return [(str(a), str(b)) for a, b in rows]


def find(store: Store, trajectory_id: str) -> list[Key]:
    """The (tenant, id) of a trajectory by id, in any tenant."""
    rows = store.query(
        "SELECT tenant, trajectory_id FROM trajectories WHERE trajectory_id = {id:String}",
        {"id": trajectory_id},
    ).rows
    return [(str(a), str(b)) for a, b in rows]


def read(store: Store, keys: Iterable[Key]) -> list[Trajectory]:
    """The newest versions of the given trajectories, in the order given (missing or deleted
    ones are left out); a few queries per batch, not per trajectory. Read-only: the turns of a
    trajectory share message objects."""
    keys = list(keys)
    found: dict[Key, Trajectory] = {}
    for tenant in sorted({tenant for tenant, _ in keys}):
        wanted = TrajectoryFilter(tenant=tenant, ids=[i for t, i in keys if t == tenant])
        # One more than asked for: a full page would cost one more (empty) page query.
        for page in read_trajectory_pages(store, wanted, page_size=min(len(keys) + 1, 1000)):
            found.update(((t.tenant, t.id), t) for _, t in page)
    return [found[key] for key in keys if key in found]


def read_as_assembled(store: Store, keys: Iterable[Key]) -> set[Key]:
    """Those of ``keys`` that a reader (``read``) gets exactly as the assembler wrote them: no
    feedback, no people's edits (on it or, for a sub-agent, on its parent trajectory), and a
    reward rule that takes the run's own reward (the views apply all three). One query per
    tenant."""
    usable: set[Key] = set()
    for tenant, ids in by_tenant(keys).items():
        tops = with_top_level_ids(ids)
        touched = {
            str(row[0])
            for row in store.query(
                "SELECT TrajectoryId FROM feedback_all "
                "WHERE Tenant = {tenant:String} AND TrajectoryId IN {ids:Array(String)} "
                "UNION ALL SELECT TrajectoryId FROM trajectory_edits "
                "WHERE Tenant = {tenant:String} AND TrajectoryId IN {tops:Array(String)} "
                "UNION ALL SELECT '' WHERE (SELECT count() FROM reward_rule FINAL "
                "WHERE indexOf(Sources, 'run') > 0) = 0",
                {"tenant": tenant, "ids": ids, "tops": tops},
            ).rows
        }
        if "" in touched:  # no reward rule, or one without the run's reward: rewards differ
            continue
        usable.update((tenant, i) for i in ids if i not in touched and top_level_id(i) not in touched)
    return usable


def write(store: Store, stage: str, version: str, items: Sequence[tuple[Trajectory, StageOutput]]) -> None:
    """Append one row per (trajectory, result) in a single insert."""
    store.insert_json_rows(
        "enrichments",
        (
            {
                "Tenant": trajectory.tenant,
                "TrajectoryId": trajectory.id,
                "TrajectoryVersion": trajectory.version,
                "Stage": stage,
                "StageVersion": version,
                "Result": result.result_json(),
                "Score": result.score,
                "Label": result.label or "",
                "Summary": result.summary or "",
                "InputTokens": result.input_tokens,
                "OutputTokens": result.output_tokens,
                "CostUsd": result.cost_usd,
                "Error": result.error or "",
            }
            for trajectory, result in items
        ),
    )


def latest(store: Store, key: Key) -> dict[str, dict[str, Any]]:
    """The latest successful result of each stage for one trajectory: stage -> row."""
    rows = store.query(
        "SELECT * FROM enrichments_latest WHERE tenant = {tenant:String} AND trajectory_id = {id:String}",
        {"tenant": key[0], "id": key[1]},
    ).dicts()
    return {row["stage"]: row for row in rows}


def judge_summaries(store: Store, keys: Sequence[Key]) -> dict[Key, str]:
    """The judge stage's latest summary of each trajectory that has one (searchable text)."""
    if not keys:
        return {}
    rows = store.query(
        "SELECT tenant, trajectory_id, summary FROM enrichments_latest "
        "WHERE stage = 'judge' AND (tenant, trajectory_id) IN {keys:Array(Tuple(String, String))}",
        {"keys": sorted(set(keys))},
    ).rows
    return {(tenant, tid): summary for tenant, tid, summary in rows}
