"""Analytics over finished runs (migration 0009, docs/analytics.md): success rates by agent, model
or tool per day, tool statistics, the typical tool sequences of successful runs and the common
failure patterns.

Each function calls a parameterized view ``analytics_*_filtered`` with bound values, so the
numbers are the ones the plain ``analytics_*`` views show, restricted to the given tenant, agents
and start-time range. Rows are plain dicts in the views' column names.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from trajotel.errors import InvalidInputError
from trajotel.store.connection import Store

# ?by= value -> (parameterized view, its dimension column)
DIMENSIONS: dict[str, tuple[str, str]] = {
    "agent": ("analytics_success_by_agent_filtered", "agent_name"),
    "model": ("analytics_success_by_model_filtered", "model"),
    "tool": ("analytics_success_by_tool_filtered", "tool_name"),
}

_FILTER_ARGS = (
    "tenant = {tenant:Nullable(String)}, agents = {agents:Array(String)}, "
    "since = {since:Nullable(DateTime64(9, 'UTC'))}, until = {until:Nullable(DateTime64(9, 'UTC'))}"
)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _params(
    tenant: str | None,
    agents: Sequence[str],
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> dict[str, Any]:
    if isinstance(agents, str):  # a lone name would be read as its letters
        agents = [agents]
    since, until = _utc(since), _utc(until)
    if since is not None and until is not None and since >= until:
        raise InvalidInputError(
            f"since ({since.isoformat()}) must be before until ({until.isoformat()})",
            hint="since is inclusive, until exclusive: both bound the run's start time",
        )
    if limit < 0:
        raise InvalidInputError(f"limit must be 0 or more, not {limit}")
    return {"tenant": tenant, "agents": list(agents), "since": since, "until": until, "limit": limit}


def success_rates(
    store: Store,
    by: str = "agent",
    *,
    tenant: str | None = None,
    agents: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Runs, successes, failures, partials, unknowns, success rate and mean reward per day and
    agent / model / tool (``by``), newest day first, then the most runs."""
    if by not in DIMENSIONS:
        raise InvalidInputError(f"by must be one of {', '.join(DIMENSIONS)}, not {by!r}")
    view, column = DIMENSIONS[by]
    return store.query(
        f"SELECT * FROM {view}({_FILTER_ARGS}) "
        f"ORDER BY day DESC, runs DESC, {column}, tenant LIMIT {{limit:UInt64}}",
        _params(tenant, agents, since, until, limit),
    ).dicts()


def tool_stats(
    store: Store,
    *,
    tenant: str | None = None,
    agents: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Per tool: calls, runs, ok, errors, pending, error rate, error types (most common first),
    p50 / p95 duration; the tools with the most errors first."""
    rows = store.query(
        f"SELECT * FROM analytics_tool_stats_filtered({_FILTER_ARGS}) "
        "ORDER BY errors DESC, calls DESC, tool_name, tenant LIMIT {limit:UInt64}",
        _params(tenant, agents, since, until, limit),
    ).dicts()
    for row in rows:
        row["error_types"] = [
            {"error_type": name, "calls": calls} for name, calls in _pairs(row["error_types"])
        ]
    return rows


def tool_sequences(
    store: Store,
    *,
    tenant: str | None = None,
    agents: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Per agent, the tool sequences of its successful runs (consecutive repeats collapsed) with
    their count and share; the most frequent first."""
    return store.query(
        f"SELECT * FROM analytics_tool_sequences_filtered({_FILTER_ARGS}) "
        "ORDER BY runs DESC, agent_name, tool_sequence, tenant LIMIT {limit:UInt64}",
        _params(tenant, agents, since, until, limit),
    ).dicts()


def failure_patterns(
    store: Store,
    *,
    tenant: str | None = None,
    agents: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    examples: int = 3,
) -> list[dict[str, Any]]:
    """Failed and partial runs grouped by failing tool and error, model error, final finish
    reason and outcome reasons, with count, share, last seen and the ``examples`` newest
    trajectory ids; the most frequent first."""
    if examples < 1:
        raise InvalidInputError(f"examples must be 1 or more, not {examples}")
    return store.query(
        f"SELECT * FROM analytics_failure_patterns_filtered({_FILTER_ARGS}, examples = {{examples:UInt32}}) "
        "ORDER BY runs DESC, last_seen DESC, agent_name, pattern, tenant LIMIT {limit:UInt64}",
        {**_params(tenant, agents, since, until, limit), "examples": examples},
    ).dicts()


def _pairs(value: Any) -> list[tuple[str, int]]:
    # A named tuple arrives as a tuple or a dict, depending on the client's settings.
    out = []
    for item in value:
        if isinstance(item, dict):
            out.append((str(item["error_type"]), int(item["calls"])))
        else:
            out.append((str(item[0]), int(item[1])))
    return out
