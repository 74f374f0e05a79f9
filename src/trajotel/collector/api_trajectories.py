"""REST endpoints of trajectories and their feedback (docs/api.md): list with filters, get,
patch (tags, outcome, metadata), delete, and feedback records.

Trajectory ids of sub-agents contain ``/``: send it as ``%2F`` in the path. Every endpoint takes
an optional ``tenant`` query parameter; without it, the id is looked up in every tenant.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from trajotel import semconv as sc
from trajotel.collector.openapi import errors, json_body, json_response, path_parameter, query_parameter, ref
from trajotel.config import Config
from trajotel.errors import InvalidInputError, NotFoundError
from trajotel.receive.http_server import HttpRequest, HttpResponse, Route
from trajotel.store import Store
from trajotel.store.edits import Patch, delete_trajectory, patch_trajectory
from trajotel.store.feedback import SOURCES, new_feedback, read_feedback, write_feedback
from trajotel.store.trajectories import read_trajectory
from trajotel.store.trajectory_query import RANGES, TrajectoryFilter, list_trajectory_rows, trajectory_tenant

COLLECTION = "/v1/trajectories"
ITEM = "/v1/trajectories/{id}"
FEEDBACK = "/v1/trajectories/{id}/feedback"

# query parameter -> TrajectoryFilter field, for the comma-separated lists
_LIST_FILTERS = {
    "agent": "agents",
    "service": "services",
    "outcome": "outcomes",
    "status": "statuses",
    "tag": "tags",
}
_RANGE_PARAMS = {f"{bound}_{name}": (name, bound) for name in RANGES for bound in ("min", "max")}
_LIST_PARAMS = {"tenant", "task", "since", "until", "limit", "offset", *_LIST_FILTERS, *_RANGE_PARAMS}
_FEEDBACK_FIELDS = {"value", "label", "comment", "source", "turn_index", "author", "id"}


def json_body_of(request: HttpRequest) -> dict[str, Any]:
    try:
        value = json.loads(request.body or b"{}")
    except ValueError as exc:
        raise InvalidInputError(f"request body is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidInputError("request body must be a JSON object")
    return value


def _number(query: Mapping[str, str], name: str) -> float | None:
    text = query.get(name)
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise InvalidInputError(f"{name} must be a number, not {text!r}") from None
    if not math.isfinite(value):
        raise InvalidInputError(f"{name} must be finite, not {text!r}")
    return value


def query_count(query: Mapping[str, str], name: str, default: int, most: int) -> int:
    text = query.get(name, "")
    if text == "":
        return default
    if not text.isdigit() or int(text) > most:
        raise InvalidInputError(f"{name} must be an integer from 0 to {most}, not {text!r}")
    return int(text)


def query_time(query: Mapping[str, str], name: str) -> datetime | None:
    """ISO 8601 (UTC unless it says otherwise) or Unix seconds."""
    text = query.get(name, "")
    if not text:
        return None
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(
            f"{name} must be an ISO 8601 time or Unix seconds, not {text!r}", hint="e.g. 2025-01-31T12:00:00Z"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_filter(query: Mapping[str, str]) -> TrajectoryFilter:
    """The list endpoint's query parameters; unknown ones are refused (a typo must not widen a list)."""
    unknown = sorted(set(query) - _LIST_PARAMS)
    if unknown:
        raise InvalidInputError(
            f"unknown query parameter {unknown[0]!r}", hint=f"known: {', '.join(sorted(_LIST_PARAMS))}"
        )
    lists = {
        field: [v.strip() for v in query[param].split(",") if v.strip()]
        for param, field in _LIST_FILTERS.items()
        if param in query
    }
    ranges: dict[str, tuple[float | None, float | None]] = {}
    for param, (name, bound) in _RANGE_PARAMS.items():
        value = _number(query, param)
        if value is not None:
            low, high = ranges.get(name, (None, None))
            ranges[name] = (value, high) if bound == "min" else (low, value)
    return TrajectoryFilter(
        tenant=query.get("tenant"),
        task_contains=query.get("task") or None,
        since=query_time(query, "since"),
        until=query_time(query, "until"),
        ranges=ranges,
        **lists,
    )


def _json(value: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> HttpResponse:
    # Rows hold datetimes: ClickHouse's text form, as the CLI has always shown them.
    return HttpResponse.json(json.loads(json.dumps(value, default=str)), status, headers)


def routes(store: Store, config: Config) -> dict[tuple[str, str], Route]:
    max_page = config.api.max_page_size
    max_text = config.feedback.max_text_chars

    def tenant_of(request: HttpRequest) -> tuple[str, str]:
        trajectory_id = request.params["id"]
        tenant = trajectory_tenant(store, trajectory_id, request.query.get("tenant"))
        if tenant is None:
            raise NotFoundError(f"no trajectory {trajectory_id!r}", hint=f"list them with GET {COLLECTION}")
        return tenant, trajectory_id

    def list_(request: HttpRequest) -> HttpResponse:
        where = parse_filter(request.query)
        limit = query_count(request.query, "limit", 50, max_page)
        offset = query_count(request.query, "offset", 0, 2**63 - 1)
        rows = list_trajectory_rows(store, where, limit=limit, offset=offset)
        headers = {}
        if limit and len(rows) == limit:
            following = {**request.query, "offset": str(offset + limit), "limit": str(limit)}
            query = urlencode(following, safe=",")
            headers["Link"] = f'<{COLLECTION}?{query}>; rel="next"'
        return _json(rows, headers=headers)

    def get(request: HttpRequest) -> HttpResponse:
        tenant, trajectory_id = tenant_of(request)
        found = read_trajectory(store, trajectory_id, tenant=tenant)
        if found is None:  # deleted between the two reads
            raise NotFoundError(f"no trajectory {trajectory_id!r}")
        return HttpResponse(200, "application/json", found.to_json().encode())

    def patch(request: HttpRequest) -> HttpResponse:
        tenant, trajectory_id = tenant_of(request)
        patch_trajectory(store, tenant, trajectory_id, Patch.from_json(json_body_of(request)))
        return _json(_summary(store, tenant, trajectory_id))

    def delete(request: HttpRequest) -> HttpResponse:
        tenant, trajectory_id = tenant_of(request)
        purge = request.query.get("purge", "false").lower()
        if purge not in ("true", "false", "1", "0"):
            raise InvalidInputError(f"purge must be true or false, not {purge!r}")
        delete_trajectory(store, tenant, trajectory_id, purge=purge in ("true", "1"))
        return _json({"deleted": trajectory_id, "tenant": tenant, "purged": purge in ("true", "1")})

    def post_feedback(request: HttpRequest) -> HttpResponse:
        tenant, trajectory_id = tenant_of(request)
        body = json_body_of(request)
        unknown = sorted(set(body) - _FEEDBACK_FIELDS)
        if unknown:
            raise InvalidInputError(
                f"unknown feedback field {unknown[0]!r}",
                hint=f"fields: {', '.join(sorted(_FEEDBACK_FIELDS))}",
            )
        record = new_feedback(
            trajectory_id,
            value=body.get("value"),
            label=body.get("label"),
            comment=body.get("comment"),
            source=body.get("source", "api"),
            turn_index=body.get("turn_index"),
            author=body.get("author"),
            key=body.get("id"),
            max_text_chars=max_text,
        )
        if record.turn_index is not None:
            turns = _summary(store, tenant, trajectory_id)["turn_count"]
            if record.turn_index >= turns:
                raise InvalidInputError(
                    f"turn_index {record.turn_index}: trajectory {trajectory_id!r} has {turns} turns"
                )
        if write_feedback(store, tenant, [record]):
            return _json(record.to_dict(), 201)
        # A retry: nothing new was stored; the answer is the record as first stored.
        stored = read_feedback(store, tenant, [trajectory_id])[trajectory_id]
        return _json(next(f for f in stored if f.id == record.id).to_dict())

    def get_feedback(request: HttpRequest) -> HttpResponse:
        tenant, trajectory_id = tenant_of(request)
        records = read_feedback(store, tenant, [trajectory_id])[trajectory_id]
        return _json([f.to_dict() for f in records])

    return {
        ("GET", COLLECTION): list_,
        ("GET", ITEM): get,
        ("PATCH", ITEM): patch,
        ("DELETE", ITEM): delete,
        ("POST", FEEDBACK): post_feedback,
        ("GET", FEEDBACK): get_feedback,
    }


def _summary(store: Store, tenant: str, trajectory_id: str) -> dict[str, Any]:
    rows = list_trajectory_rows(store, TrajectoryFilter(tenant=tenant, ids=[trajectory_id]), limit=1)
    if not rows:
        raise NotFoundError(f"no trajectory {trajectory_id!r}")
    return rows[0]


# --- the OpenAPI description ----------------------------------------------------------------------

_ID = path_parameter("id", "trajectory id (a sub-agent's contains '/': send it as %2F)")
_TENANT = query_parameter("tenant", "only this tenant (default: any)", {"type": "string"})
_STRING = {"type": "string"}
_STRINGS = {"type": "array", "items": _STRING}

_LIST_PARAMETERS = [
    _TENANT,
    query_parameter("agent", "agent names, comma-separated (any)", _STRING),
    query_parameter("service", "service names, comma-separated (any)", _STRING),
    query_parameter("outcome", "success | partial | failure | unknown, comma-separated (any)", _STRING),
    query_parameter("status", "running | complete | error, comma-separated (any)", _STRING),
    query_parameter("tag", "tags, comma-separated (all must be present)", _STRING),
    query_parameter("task", "the task contains this text (case-insensitive)", _STRING),
    query_parameter("since", "started at or after: ISO 8601 or Unix seconds", _STRING),
    query_parameter("until", "started before: ISO 8601 or Unix seconds", _STRING),
    *(
        query_parameter(
            param, f"{bound}imum {name} (inclusive; missing values never match)", {"type": "number"}
        )
        for param, (name, bound) in _RANGE_PARAMS.items()
    ),
    query_parameter(
        "limit", "page size (default 50, at most api.max_page_size)", {"type": "integer", "minimum": 0}
    ),
    query_parameter(
        "offset", "rows to skip; the Link header names the next page", {"type": "integer", "minimum": 0}
    ),
]

OPENAPI_SCHEMAS: dict[str, Any] = {
    "TrajectorySummary": {
        "type": "object",
        "description": "a row of the trajectories view (edits applied, reward by the reward rule)",
        "properties": {
            "trajectory_id": _STRING,
            "version": {"type": "integer"},
            "tenant": _STRING,
            "status": _STRING,
            "outcome": _STRING,
            "outcome_confidence": {"type": "number"},
            "reward": {"type": ["number", "null"]},
            "reward_source": {"type": "string", "description": "the rule's winning source; '' when none"},
            "human_reviewed": {"type": ["boolean", "integer"]},
            "tags": _STRINGS,
            "metadata": {"type": "object", "additionalProperties": _STRING},
            "task": _STRING,
        },
        "additionalProperties": True,
    },
    "Trajectory": {
        "type": "object",
        "description": "the canonical trajectory (proto/trajotel/v1/trajectory.proto as JSON)",
        "required": ["id", "version", "turns"],
        "additionalProperties": True,
    },
    "Feedback": {
        "type": "object",
        "required": ["id", "trajectory_id", "source"],
        "properties": {
            "id": _STRING,
            "trajectory_id": _STRING,
            "turn_index": {"type": "integer", "minimum": 0},
            "source": {"enum": list(SOURCES)},
            "value": {"type": "number"},
            "label": _STRING,
            "comment": _STRING,
            "author": _STRING,
            "created_at_unix_nano": {"type": "integer"},
        },
    },
    "NewFeedback": {
        "type": "object",
        "description": "at least one of value, label, comment",
        "additionalProperties": False,
        "properties": {
            "value": {"type": "number"},
            "label": _STRING,
            "comment": _STRING,
            "source": {"enum": list(SOURCES), "default": "api"},
            "turn_index": {
                "type": "integer",
                "minimum": 0,
                "description": "absent: about the whole trajectory",
            },
            "author": _STRING,
            "id": {
                "type": "string",
                "description": "idempotency key: a retry with the same id is stored once",
            },
        },
    },
    "TrajectoryPatch": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "tags": {
                "oneOf": [
                    {**_STRINGS, "description": "replaces all tags"},
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"set": _STRINGS, "add": _STRINGS, "remove": _STRINGS},
                    },
                ]
            },
            "outcome": {
                "oneOf": [
                    {"enum": list(sc.OUTCOME_LABELS)},
                    {
                        "type": "object",
                        "required": ["label"],
                        "properties": {"label": {"enum": list(sc.OUTCOME_LABELS)}, "reason": _STRING},
                    },
                    {"type": "null", "description": "back to the assembled outcome"},
                ]
            },
            "metadata": {
                "type": "object",
                "additionalProperties": {"type": ["string", "null"]},
                "description": "keys to set; null removes a key",
            },
            "author": _STRING,
        },
    },
}

OPENAPI_PATHS: dict[str, Any] = {
    COLLECTION: {
        "get": {
            "summary": "List trajectories, newest first",
            "operationId": "listTrajectories",
            "parameters": _LIST_PARAMETERS,
            "responses": {
                "200": {
                    **json_response(
                        "a page of trajectories", {"type": "array", "items": ref("TrajectorySummary")}
                    ),
                    "headers": {
                        "Link": {"description": 'the next page: <url>; rel="next"', "schema": _STRING}
                    },
                },
                **errors(400),
            },
        }
    },
    ITEM: {
        "parameters": [_ID, _TENANT],
        "get": {
            "summary": "One trajectory, whole",
            "operationId": "getTrajectory",
            "responses": {"200": json_response("the trajectory", ref("Trajectory")), **errors(404)},
        },
        "patch": {
            "summary": "Change tags, outcome or metadata (kept across re-assembly)",
            "operationId": "patchTrajectory",
            "requestBody": json_body(ref("TrajectoryPatch")),
            "responses": {
                "200": json_response("the changed trajectory", ref("TrajectorySummary")),
                **errors(400, 404),
            },
        },
        "delete": {
            "summary": "Delete a trajectory and its sub-agents from every view, reader and export",
            "operationId": "deleteTrajectory",
            "parameters": [
                query_parameter("purge", "also delete its stored spans, logs and rows", {"type": "boolean"})
            ],
            "responses": {
                "200": json_response(
                    "deleted",
                    {
                        "type": "object",
                        "properties": {"deleted": _STRING, "tenant": _STRING, "purged": {"type": "boolean"}},
                    },
                ),
                **errors(400, 404),
            },
        },
    },
    FEEDBACK: {
        "parameters": [_ID, _TENANT],
        "post": {
            "summary": "Add feedback about the trajectory or one of its turns",
            "operationId": "addFeedback",
            "requestBody": json_body(ref("NewFeedback")),
            "responses": {
                "201": json_response("the stored record", ref("Feedback")),
                "200": json_response("a retry: the record as first stored", ref("Feedback")),
                **errors(400, 404),
            },
        },
        "get": {
            "summary": "The trajectory's feedback, oldest first (evaluation events included)",
            "operationId": "listFeedback",
            "responses": {
                "200": json_response("feedback records", {"type": "array", "items": ref("Feedback")}),
                **errors(404),
            },
        },
    },
}
