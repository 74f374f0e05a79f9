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

from trajotel.assemble.model import Trajectory
from trajotel.store.connection import Store
from trajotel.store.trajectories import read_trajectory

# filter name -> column of the trajectories view
RANGES: dict[str, str] = {"reward": "reward", "confidence": "outcome_confidence"}

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
            column = RANGES[name]
            if low is not None:
                add(f"{column} >= {{min_{name}:Float64}}", **{f"min_{name}": low})
            if high is not None:
                add(f"{column} <= {{max_{name}:Float64}}", **{f"max_{name}": high})
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
