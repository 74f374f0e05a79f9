"""Analytics over HTTP (docs/analytics.md): success rates by agent, model or tool per day, tool
statistics, the typical tool sequences of successful runs and the common failure patterns.

Every endpoint takes ``tenant`` (default: every tenant), ``agent`` (comma-separated names),
``since`` / ``until`` (the run's start time, ISO 8601 or Unix seconds) and ``limit``; the answer
is a JSON array of rows of the matching ``analytics_*`` view.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from trajotel.collector.api_trajectories import query_count, query_time
from trajotel.collector.openapi import errors, json_response, query_parameter, ref
from trajotel.config import Config
from trajotel.errors import InvalidInputError
from trajotel.receive.http_server import HttpRequest, HttpResponse, Route
from trajotel.store import Store, analytics

SUCCESS_RATES = "/v1/analytics/success-rates"
TOOL_STATS = "/v1/analytics/tool-stats"
TOOL_SEQUENCES = "/v1/analytics/tool-sequences"
FAILURE_PATTERNS = "/v1/analytics/failure-patterns"

DEFAULT_LIMIT = 100
DEFAULT_EXAMPLES = 3
_COMMON = ("tenant", "agent", "since", "until", "limit")


def _filters(query: Mapping[str, str], extra: tuple[str, ...], max_rows: int) -> dict[str, Any]:
    """The common query parameters as keyword arguments of trajotel.store.analytics; unknown ones
    are refused (a typo must not silently widen the numbers)."""
    known = (*_COMMON, *extra)
    unknown = sorted(set(query) - set(known))
    if unknown:
        raise InvalidInputError(f"unknown query parameter {unknown[0]!r}", hint=f"known: {', '.join(known)}")
    agents = [name.strip() for name in query.get("agent", "").split(",") if name.strip()]
    return {
        "tenant": query.get("tenant") or None,
        "agents": agents,
        "since": query_time(query, "since"),
        "until": query_time(query, "until"),
        "limit": query_count(query, "limit", DEFAULT_LIMIT, max_rows),
    }


def _rows(rows: list[dict[str, Any]]) -> HttpResponse:
    # Days and times as ClickHouse's text form, as the other endpoints show them.
    return HttpResponse.json(json.loads(json.dumps(rows, default=str)))


def routes(store: Store, config: Config) -> dict[tuple[str, str], Route]:
    max_rows = config.api.max_page_size

    def success_rates(request: HttpRequest) -> HttpResponse:
        args = _filters(request.query, ("by",), max_rows)
        return _rows(analytics.success_rates(store, request.query.get("by") or "agent", **args))

    def tool_stats(request: HttpRequest) -> HttpResponse:
        return _rows(analytics.tool_stats(store, **_filters(request.query, (), max_rows)))

    def tool_sequences(request: HttpRequest) -> HttpResponse:
        return _rows(analytics.tool_sequences(store, **_filters(request.query, (), max_rows)))

    def failure_patterns(request: HttpRequest) -> HttpResponse:
        args = _filters(request.query, ("examples",), max_rows)
        text = request.query.get("examples") or str(DEFAULT_EXAMPLES)
        if not text.isdigit() or not 1 <= int(text) <= max_rows:
            raise InvalidInputError(f"examples must be an integer from 1 to {max_rows}, not {text!r}")
        examples = int(text)
        return _rows(analytics.failure_patterns(store, examples=examples, **args))

    return {
        ("GET", SUCCESS_RATES): success_rates,
        ("GET", TOOL_STATS): tool_stats,
        ("GET", TOOL_SEQUENCES): tool_sequences,
        ("GET", FAILURE_PATTERNS): failure_patterns,
    }


# --- the OpenAPI description ----------------------------------------------------------------------

_STRING = {"type": "string"}
_INTEGER = {"type": "integer", "minimum": 0}
_NUMBER_OR_NULL = {"type": ["number", "null"]}
_STRINGS = {"type": "array", "items": _STRING}

_PARAMETERS = [
    query_parameter("tenant", "only this tenant (default: every tenant, one row each)", _STRING),
    query_parameter("agent", "only these agents, comma-separated (default: every agent)", _STRING),
    query_parameter("since", "runs started at or after: ISO 8601 or Unix seconds", _STRING),
    query_parameter("until", "runs started before: ISO 8601 or Unix seconds", _STRING),
    query_parameter(
        "limit",
        f"most rows (default {DEFAULT_LIMIT}, at most api.max_page_size)",
        {"type": "integer", "minimum": 0},
    ),
]

_OUTCOME_COUNTS = {
    "runs": {**_INTEGER, "description": "finished runs"},
    "successes": _INTEGER,
    "failures": _INTEGER,
    "partials": _INTEGER,
    "unknowns": {**_INTEGER, "description": "runs whose outcome is unknown"},
    "success_rate": {"type": "number", "description": "successes / runs"},
    "avg_reward": {**_NUMBER_OR_NULL, "description": "mean final reward of the runs that have one"},
}

OPENAPI_SCHEMAS: dict[str, Any] = {
    "SuccessRate": {
        "type": "object",
        "description": "one day of one agent, model or tool (the column named by ?by=)",
        "properties": {
            "tenant": _STRING,
            "day": {"type": "string", "description": "YYYY-MM-DD (UTC) the runs started"},
            "agent_name": {**_STRING, "description": "by=agent"},
            "model": {**_STRING, "description": "by=model: a run counts for each model it called"},
            "tool_name": {**_STRING, "description": "by=tool: the runs that called the tool"},
            **_OUTCOME_COUNTS,
        },
    },
    "ToolStats": {
        "type": "object",
        "properties": {
            "tenant": _STRING,
            "tool_name": _STRING,
            "calls": _INTEGER,
            "runs": {**_INTEGER, "description": "runs that called it"},
            "ok": _INTEGER,
            "errors": _INTEGER,
            "pending": {**_INTEGER, "description": "calls without a result (the run ended first)"},
            "error_rate": {**_NUMBER_OR_NULL, "description": "errors / (ok + errors)"},
            "error_types": {
                "type": "array",
                "description": "most common first",
                "items": {
                    "type": "object",
                    "properties": {"error_type": _STRING, "calls": _INTEGER},
                },
            },
            "timed_calls": {**_INTEGER, "description": "calls with an execute_tool span (a duration)"},
            "p50_duration_ms": _NUMBER_OR_NULL,
            "p95_duration_ms": _NUMBER_OR_NULL,
        },
    },
    "ToolSequence": {
        "type": "object",
        "properties": {
            "tenant": _STRING,
            "agent_name": _STRING,
            "tool_sequence": {
                **_STRINGS,
                "description": "tools in call order, consecutive repeats collapsed",
            },
            "steps": _INTEGER,
            "runs": {**_INTEGER, "description": "successful runs with this sequence"},
            "share": {"type": "number", "description": "of the agent's successful runs"},
            "avg_turns": {"type": "number"},
            "avg_reward": _NUMBER_OR_NULL,
            "last_seen": {"type": "string", "description": "start time of the newest such run"},
        },
    },
    "FailurePattern": {
        "type": "object",
        "properties": {
            "tenant": _STRING,
            "agent_name": _STRING,
            "pattern": {"type": "string", "description": "the parts below that are set, in one line"},
            "outcome": {"enum": ["failure", "partial"]},
            "failing_tool": {**_STRING, "description": "the first failed tool call's tool ('' when none)"},
            "tool_error_type": _STRING,
            "model_error_type": {**_STRING, "description": "the last failed model call's error type"},
            "final_finish_reason": {**_STRING, "description": "of the last model call (length: cut off)"},
            "reason_pattern": {**_STRING, "description": "the outcome's reasons, numbers replaced by N"},
            "runs": _INTEGER,
            "share": {"type": "number", "description": "of the agent's failed and partial runs"},
            "last_seen": _STRING,
            "example_trajectory_ids": {**_STRINGS, "description": "the newest runs first"},
        },
    },
}


def _operation(operation_id: str, summary: str, schema: str, extra: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "operationId": operation_id,
            "parameters": [*_PARAMETERS, *extra],
            "responses": {
                "200": json_response("rows", {"type": "array", "items": ref(schema)}),
                **errors(400),
            },
        }
    }


OPENAPI_PATHS: dict[str, Any] = {
    SUCCESS_RATES: _operation(
        "analyticsSuccessRates",
        "Success rate per day by agent, model or tool (newest day first)",
        "SuccessRate",
        [query_parameter("by", "agent (default) | model | tool", {"enum": list(analytics.DIMENSIONS)})],
    ),
    TOOL_STATS: _operation(
        "analyticsToolStats",
        "Per tool: calls, errors, error types, p50/p95 duration (most errors first)",
        "ToolStats",
        [],
    ),
    TOOL_SEQUENCES: _operation(
        "analyticsToolSequences",
        "The tool sequences of each agent's successful runs (most frequent first)",
        "ToolSequence",
        [],
    ),
    FAILURE_PATTERNS: _operation(
        "analyticsFailurePatterns",
        "Failed and partial runs grouped by what went wrong (most frequent first)",
        "FailurePattern",
        [
            query_parameter(
                "examples",
                f"example trajectory ids per pattern (default {DEFAULT_EXAMPLES}, at most api.max_page_size)",
                {"type": "integer", "minimum": 1},
            )
        ],
    ),
}
