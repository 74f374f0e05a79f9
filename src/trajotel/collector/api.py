"""The collector's own HTTP endpoints, next to OTLP on the HTTP port: SQL, status and the REST
API of trajectories and feedback (docs/api.md), described by ``GET /openapi.json``.

Each routes module (``api_trajectories``, ...) exposes ``routes(...)`` and its own
``OPENAPI_PATHS`` / ``OPENAPI_SCHEMAS``; this module puts them together.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

from trajotel.collector import api_trajectories, openapi
from trajotel.collector.api_trajectories import json_body_of
from trajotel.collector.openapi import errors, json_body, json_response, query_parameter
from trajotel.config import Config
from trajotel.errors import InvalidInputError, NotFoundError
from trajotel.receive.http_server import HttpRequest, HttpResponse, Route
from trajotel.store import Store
from trajotel.store.trajectories import read_trajectory

_json_body = json_body_of  # the name api_enrich imports


def _base_routes(store: Store, status: Callable[..., dict]) -> dict[tuple[str, str], Route]:
    def query(request: HttpRequest) -> HttpResponse:
        body = json_body_of(request)
        sql = body.get("sql")
        if not isinstance(sql, str) or not sql.strip():
            raise InvalidInputError(
                'missing "sql"', hint='POST {"sql": "SELECT ...", "format": "JSONEachRow"}'
            )
        fmt = str(body.get("format") or "TabSeparatedWithNames")
        return HttpResponse(200, "text/plain; charset=utf-8", store.query_raw(sql, fmt))

    def trajectory(request: HttpRequest) -> HttpResponse:
        # The id as a query parameter: the CLI's older form of GET /v1/trajectories/{id}.
        trajectory_id = request.query.get("id", "")
        found = read_trajectory(store, trajectory_id, tenant=request.query.get("tenant"))
        if found is None:
            raise NotFoundError(
                f"no trajectory {trajectory_id!r}", hint="list them with `trajotel trajectories list`"
            )
        return HttpResponse(200, "application/json", found.to_json().encode())

    return {
        ("POST", "/v1/query"): query,
        ("GET", "/v1/trajectory"): trajectory,
        ("GET", "/v1/status"): lambda request: HttpResponse.json(status(**_status_query(request))),
    }


def _status_query(request: HttpRequest) -> dict[str, float]:
    """``completed_since``: also list the complete versions written after that wall time."""
    since = request.query.get("completed_since")
    if since is None:
        return {}
    try:
        return {"completed_since": float(since)}
    except ValueError:
        raise InvalidInputError(
            f"completed_since={since!r} is not a number",
            hint="give seconds since the epoch, e.g. GET /v1/status?completed_since=1765000000.5",
        ) from None


def routes(
    store: Store, status: Callable[..., dict], config: Config | None = None
) -> dict[tuple[str, str], Route]:
    """Every endpoint of the HTTP port besides OTLP's."""
    config = config or Config()
    table = {**_base_routes(store, status), **api_trajectories.routes(store, config)}
    described = openapi.document(route_modules())
    table[("GET", openapi.OPENAPI_PATH)] = lambda _request: HttpResponse.json(described)
    return table


def route_modules() -> list[ModuleType]:
    """The routes modules present, imported now (they import this module: not at import time)."""
    found = []
    for name in ROUTE_MODULES:
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a module that is there but fails to import is a bug
                raise
    return found


_STRING = {"type": "string"}

OPENAPI_PATHS: dict[str, Any] = {
    "/v1/query": {
        "post": {
            "summary": "Run SQL on the store; the answer is in ClickHouse's format",
            "operationId": "query",
            "requestBody": json_body(
                {
                    "type": "object",
                    "required": ["sql"],
                    "properties": {
                        "sql": _STRING,
                        "format": {"type": "string", "default": "TabSeparatedWithNames"},
                    },
                }
            ),
            "responses": {
                "200": {"description": "the result", "content": {"text/plain": {"schema": _STRING}}},
                **errors(400),
            },
        }
    },
    "/v1/trajectory": {
        "get": {
            "summary": "One trajectory (older form of GET /v1/trajectories/{id})",
            "operationId": "getTrajectoryById",
            "parameters": [
                {"name": "id", "in": "query", "required": True, "schema": _STRING},
                query_parameter("tenant", "only this tenant", _STRING),
            ],
            "responses": {"200": json_response("the trajectory", openapi.ref("Trajectory")), **errors(404)},
        }
    },
    "/v1/status": {
        "get": {
            "summary": "The collector's counters",
            "operationId": "status",
            "parameters": [
                query_parameter(
                    "completed_since",
                    "also list the complete trajectory versions whose insert returned after this "
                    "time (seconds since the epoch), of the last assemble.completed_log_size",
                    {"type": "number"},
                ),
            ],
            "responses": {"200": json_response("counters", {"type": "object"}), **errors(400)},
        }
    },
    openapi.OPENAPI_PATH: {
        "get": {
            "summary": "This OpenAPI document",
            "operationId": "openapi",
            "responses": {"200": json_response("OpenAPI 3.1", {"type": "object"})},
        }
    },
}

# Modules whose OPENAPI_PATHS / OPENAPI_SCHEMAS make the document; each has its ``routes(...)``.
ROUTE_MODULES = (
    __name__,
    "trajotel.collector.api_trajectories",
    "trajotel.collector.api_enrich",
    "trajotel.collector.api_search",
    "trajotel.collector.api_analytics",
    "trajotel.collector.api_export",
)
