"""The collector's own HTTP endpoints, next to OTLP on the HTTP port: SQL and trajectories for
the CLI (which cannot open the embedded store while the collector holds it) and for scripts."""

from __future__ import annotations

import json
from collections.abc import Callable

from trajotel.errors import InvalidInputError, NotFoundError
from trajotel.receive.http_server import HttpRequest, HttpResponse, Route
from trajotel.store import Store
from trajotel.store.trajectories import list_trajectories, read_trajectory


def _json_body(request: HttpRequest) -> dict:
    try:
        value = json.loads(request.body or b"{}")
    except ValueError as exc:
        raise InvalidInputError(f"request body is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidInputError("request body must be a JSON object")
    return value


def routes(store: Store, status: Callable[[], dict]) -> dict[tuple[str, str], Route]:
    def query(request: HttpRequest) -> HttpResponse:
        body = _json_body(request)
        sql = body.get("sql")
        if not isinstance(sql, str) or not sql.strip():
            raise InvalidInputError(
                'missing "sql"', hint='POST {"sql": "SELECT ...", "format": "JSONEachRow"}'
            )
        fmt = str(body.get("format") or "TabSeparatedWithNames")
        return HttpResponse(200, "text/plain; charset=utf-8", store.query_raw(sql, fmt))

    def trajectories(request: HttpRequest) -> HttpResponse:
        try:
            limit = int(request.query.get("limit", "50"))
        except ValueError:
            raise InvalidInputError("limit must be an integer") from None
        rows = list_trajectories(store, limit=limit, tenant=request.query.get("tenant"))
        return HttpResponse.json(json.loads(json.dumps(rows, default=str)))

    def trajectory(request: HttpRequest) -> HttpResponse:
        trajectory_id = request.query.get("id", "")
        found = read_trajectory(store, trajectory_id, tenant=request.query.get("tenant"))
        if found is None:
            raise NotFoundError(
                f"no trajectory {trajectory_id!r}", hint="list them with `trajotel trajectories list`"
            )
        return HttpResponse(200, "application/json", found.to_json().encode())

    return {
        ("POST", "/v1/query"): query,
        ("GET", "/v1/trajectories"): trajectories,
        ("GET", "/v1/trajectory"): trajectory,
        ("GET", "/v1/status"): lambda _request: HttpResponse.json(status()),
    }
