"""Enrichment over HTTP: ``POST /v1/trajectories/{id}/process`` (enrich one now) and
``POST /v1/enrich`` (enrich those matching filters; ``trajotel enrich`` uses it while a collector
holds the store), both run in the request and answer with what each stage did; and
``GET /v1/trajectories/{id}/enrichments``, the latest successful result of each stage (judge
summary, score, decisions, ...) for readers outside the collector (trajotel.Client)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from trajotel.collector.api_trajectories import json_body_of
from trajotel.collector.openapi import errors, json_response, path_parameter, query_parameter, ref
from trajotel.enrich.runner import Runner, process
from trajotel.errors import InvalidInputError, NotFoundError
from trajotel.receive.http_server import HttpRequest, HttpResponse, Route
from trajotel.store import Store, enrichments

MAX_LIMIT = 10_000

RunnerFor = Callable[[Sequence[str] | None], Runner]


def _options(body: dict[str, Any], allowed: Sequence[str]) -> tuple[list[str] | None, bool]:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise InvalidInputError(
            f"unknown field {unknown[0]!r} in the request body", hint=f"fields: {', '.join(allowed)}"
        )
    stages = body.get("stages")
    if stages is not None and not (isinstance(stages, list) and all(isinstance(s, str) for s in stages)):
        raise InvalidInputError('"stages" must be a list of stage names', hint='e.g. {"stages": ["judge"]}')
    force = body.get("force", False)
    if not isinstance(force, bool):
        raise InvalidInputError('"force" must be true or false')
    return stages, force


def routes(store: Store, runner_for: RunnerFor) -> dict[tuple[str, str], Route]:
    """``runner_for(stage names or None)``: a runner of those stages (None: the enabled ones)."""

    def process_one(request: HttpRequest) -> HttpResponse:
        trajectory_id = request.params["id"]
        stages, force = _options(json_body_of(request), ("stages", "force"))
        keys = enrichments.find(store, trajectory_id)
        if tenant := request.query.get("tenant"):
            keys = [k for k in keys if k[0] == tenant]
        if not keys:
            raise NotFoundError(
                f"no trajectory {trajectory_id!r}", hint="list them with GET /v1/trajectories"
            )
        return HttpResponse.json(process(runner_for(stages), keys, force))

    def enrich(request: HttpRequest) -> HttpResponse:
        body = json_body_of(request)
        stages, force = _options(body, ("stages", "force", "ids", "filters", "limit"))
        filters = body.get("filters") or {}
        ids = body.get("ids") or []
        limit = body.get("limit", 100)
        if not isinstance(filters, dict) or not isinstance(ids, list):
            raise InvalidInputError('"filters" must be an object and "ids" a list of trajectory ids')
        if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise InvalidInputError(f'"limit" must be an integer in [1, {MAX_LIMIT}]')
        keys = (
            [k for i in ids for k in enrichments.find(store, str(i))]
            if ids
            else enrichments.select(store, filters, limit=limit)
        )
        return HttpResponse.json(process(runner_for(stages), keys, force))

    def stage_results(request: HttpRequest) -> HttpResponse:
        trajectory_id = request.params["id"]
        keys = enrichments.find(store, trajectory_id)
        if tenant := request.query.get("tenant"):
            keys = [k for k in keys if k[0] == tenant]
        if not keys:
            raise NotFoundError(
                f"no trajectory {trajectory_id!r}", hint="list them with GET /v1/trajectories"
            )
        key = min(keys)  # an id in several tenants without ?tenant=: the first, as GET /{id} does
        stages = {stage: _enrichment(row) for stage, row in sorted(enrichments.latest(store, key).items())}
        return HttpResponse.json({"trajectory_id": key[1], "tenant": key[0], "stages": stages})

    return {
        ("POST", "/v1/trajectories/{id}/process"): process_one,
        ("POST", "/v1/enrich"): enrich,
        ("GET", ENRICHMENTS): stage_results,
    }


ENRICHMENTS = "/v1/trajectories/{id}/enrichments"


def _enrichment(row: dict[str, Any]) -> dict[str, Any]:
    """One ``enrichments_latest`` row as JSON: the stage's result parsed, the time as text."""
    try:
        result = json.loads(row["result"] or "{}")
    except ValueError:  # a third-party stage's result is stored as given; show it raw
        result = row["result"]
    return {
        "stage_version": row["stage_version"],
        "trajectory_version": int(row["trajectory_version"]),
        "score": row["score"],
        "label": row["label"],
        "summary": row["summary"],
        "result": result,
        "created_at": str(row["created_at"]),
    }


_STAGES = {
    "stages": {
        "type": "array",
        "items": {"type": "string"},
        "description": "stage names; default: the enabled ones ([enrich] stages)",
    },
    "force": {"type": "boolean", "description": "run even where a result for this version exists"},
}
_ENRICH = {
    **_STAGES,
    "ids": {"type": "array", "items": {"type": "string"}, "description": "these trajectories"},
    "filters": {
        "type": "object",
        "description": f"else those matching: {', '.join(sorted(enrichments.FILTERS))}",
        "additionalProperties": {"type": "string"},
    },
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 100},
}


def _optional_body(properties: dict[str, Any]) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    return {"required": False, "content": {"application/json": {"schema": schema}}}


_ENRICHMENT = {
    "type": "object",
    "properties": {
        "stage_version": {"type": "string"},
        "trajectory_version": {"type": "integer", "description": "the trajectory version it is about"},
        "score": {"type": ["number", "null"], "description": "in [0, 1]"},
        "label": {"type": "string", "description": "the stage's outcome label, if any"},
        "summary": {"type": "string", "description": "the judge's summary, if any"},
        "result": {"description": "the stage's JSON result (shape per stage: docs/enrichment.md)"},
        "created_at": {"type": "string"},
    },
}

OPENAPI_SCHEMAS: dict[str, Any] = {
    "Enrichments": {
        "type": "object",
        "properties": {
            "trajectory_id": {"type": "string"},
            "tenant": {"type": "string"},
            "stages": {
                "type": "object",
                "description": "stage name -> its latest successful result (newest trajectory version)",
                "additionalProperties": _ENRICHMENT,
            },
        },
    },
    "EnrichReport": {
        "type": "object",
        "properties": {
            "trajectories": {"type": "array", "items": {"type": "string"}},
            "stages": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "stage": {"type": "string"},
                        "version": {"type": "string"},
                        "enriched": {"type": "integer"},
                        "failed": {"type": "integer"},
                        "input_tokens": {"type": "integer"},
                        "output_tokens": {"type": "integer"},
                        "cost_usd": {"type": "number"},
                        "errors": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
        },
    },
}

OPENAPI_PATHS: dict[str, Any] = {
    ENRICHMENTS: {
        "get": {
            "summary": "The latest successful result of each enrichment stage for one trajectory",
            "operationId": "getTrajectoryEnrichments",
            "parameters": [
                path_parameter("id", "trajectory id (a sub-agent's contains '/': send it as %2F)"),
                query_parameter("tenant", "only this tenant (default: any)", {"type": "string"}),
            ],
            "responses": {"200": json_response("results by stage", ref("Enrichments")), **errors(404)},
        }
    },
    "/v1/trajectories/{id}/process": {
        "post": {
            "summary": "Enrich one trajectory now (the stages it needs, or all with force)",
            "operationId": "processTrajectory",
            "parameters": [path_parameter("id", "trajectory id")],
            "requestBody": _optional_body(_STAGES),
            "responses": {
                "200": json_response("what each stage did", ref("EnrichReport")),
                **errors(400, 404),
            },
        }
    },
    "/v1/enrich": {
        "post": {
            "summary": "Enrich the given trajectories, or those matching filters, now",
            "operationId": "enrichTrajectories",
            "requestBody": _optional_body(_ENRICH),
            "responses": {"200": json_response("what each stage did", ref("EnrichReport")), **errors(400)},
        }
    },
}
