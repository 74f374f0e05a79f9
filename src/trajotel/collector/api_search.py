"""``POST /v1/trajectories/search``: keyword, vector or hybrid search (docs/search.md)."""

from __future__ import annotations

import threading
from typing import Any

from trajotel.collector.api_trajectories import json_body_of
from trajotel.collector.openapi import errors, json_body, json_response, ref
from trajotel.config import Config
from trajotel.enrich.embed import Embedder, embedder_from_settings
from trajotel.enrich.search import FILTERS, MODES, search
from trajotel.errors import InvalidInputError
from trajotel.receive.http_server import HttpRequest, HttpResponse, Route
from trajotel.store import Store

PATH = "/v1/trajectories/search"
_FIELDS = ("query", "k", "min_score", "max_score", "mode", "filters", "tenant")


def _number(body: dict[str, Any], name: str, kind: type) -> Any:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        raise InvalidInputError(f'"{name}" must be {"a number" if kind is float else "an integer"}')
    return kind(value)


def parse(body: dict[str, Any]) -> dict[str, Any]:
    """The request body as ``search`` arguments; unknown or ill-typed fields are named."""
    unknown = sorted(set(body) - set(_FIELDS))
    if unknown:
        raise InvalidInputError(f"unknown field {unknown[0]!r}", hint=f"fields: {', '.join(_FIELDS)}")
    filters = body.get("filters") or {}
    if not isinstance(filters, dict) or not all(isinstance(v, str) for v in filters.values()):
        raise InvalidInputError('"filters" must be an object of strings, e.g. {"agent": "weather"}')
    for name in ("query", "mode", "tenant"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise InvalidInputError(f'"{name}" must be a string')
    return {
        "query": body.get("query"),
        "k": _number(body, "k", int) or 5,
        "min_score": _number(body, "min_score", float),
        "max_score": _number(body, "max_score", float),
        "mode": body.get("mode"),
        "filters": filters,
        "tenant": body.get("tenant"),
    }


def routes(store: Store, config: Config) -> dict[tuple[str, str], Route]:
    lock = threading.Lock()
    loaded: list[Embedder | None] = []

    def embedder() -> Embedder | None:
        # Built on first use: a local model takes seconds to load, and a bad provider setting
        # must not stop the collector (searches that need it report the error instead).
        with lock:
            if not loaded:
                loaded.append(embedder_from_settings(config.enrich.embeddings))
            return loaded[0]

    def search_route(request: HttpRequest) -> HttpResponse:
        args = parse(json_body_of(request))
        args["tenant"] = args["tenant"] or request.query.get("tenant") or "default"  # as the other routes
        needs_model = args["mode"] != "keyword" and config.enrich.embeddings.provider
        hits = search(store, embedder=embedder() if needs_model else None, settings=config.search, **args)
        mode = args["mode"] or ("hybrid" if needs_model else "keyword")
        return HttpResponse.json({"mode": mode, "hits": [hit.to_dict() for hit in hits]})

    return {("POST", PATH): search_route}


_NUMBER_OR_NULL = {"type": ["number", "null"]}

OPENAPI_SCHEMAS: dict[str, Any] = {
    "SearchRequest": {
        "type": "object",
        "required": ["query"],
        "properties": {
            "query": {"type": "string", "description": "words (keyword) or a sentence (vector)"},
            "k": {"type": "integer", "minimum": 1, "default": 5},
            "min_score": {**_NUMBER_OR_NULL, "description": "only trajectories scoring at least this"},
            "max_score": {**_NUMBER_OR_NULL, "description": "only trajectories scoring at most this"},
            "mode": {
                "type": ["string", "null"],
                "enum": [*MODES, None],
                "description": "default: hybrid when an embeddings model is configured, else keyword",
            },
            "filters": {
                "type": "object",
                "properties": {name: {"type": "string"} for name in FILTERS},
                "additionalProperties": False,
            },
            "tenant": {"type": "string", "default": "default"},
        },
        "additionalProperties": False,
    },
    "SearchHit": {
        "type": "object",
        "properties": {
            "trajectory_id": {"type": "string"},
            "tenant": {"type": "string"},
            "relevance": {"type": "number", "description": "what the hits are ordered by"},
            "keyword_score": _NUMBER_OR_NULL,
            "vector_similarity": _NUMBER_OR_NULL,
            "score": {**_NUMBER_OR_NULL, "description": "the trajectory's quality score in [0, 1]"},
            "score_source": {"type": "string", "description": "judge | heuristic | outcome | empty"},
            "task": {"type": "string"},
            "outcome": {"type": "string"},
            "agent_name": {"type": "string"},
            "why": {"type": "array", "items": {"type": "string"}},
        },
    },
}

OPENAPI_PATHS: dict[str, Any] = {
    PATH: {
        "post": {
            "summary": "Search trajectories by text: keyword, vector or hybrid, with a score range",
            "operationId": "searchTrajectories",
            "requestBody": json_body(ref("SearchRequest")),
            "responses": {
                "200": json_response(
                    "the best hits first",
                    {
                        "type": "object",
                        "properties": {
                            "mode": {"type": "string"},
                            "hits": {"type": "array", "items": ref("SearchHit")},
                        },
                    },
                ),
                **errors(400),
            },
        }
    }
}
