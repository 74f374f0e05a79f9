"""The OpenAPI 3.1 document of the collector's REST API, served at ``GET /openapi.json``.

Each routes module describes its own endpoints next to their code: a module-level
``OPENAPI_PATHS`` (path template -> OpenAPI path item) and, when it has any, ``OPENAPI_SCHEMAS``
(component schemas it references as ``#/components/schemas/<Name>``). ``document`` merges them
and refuses two modules describing the same operation. The helpers below keep the fragments short.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any

from trajotel import __version__

OPENAPI_PATH = "/openapi.json"

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "what went wrong, naming the field or object"},
        "hint": {"type": ["string", "null"], "description": "what to do next"},
    },
}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_response(description: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": dict(schema)}}}


def errors(*statuses: int) -> dict[str, Any]:
    """Error responses, each a JSON ``{"error", "hint"}``."""
    meaning = {400: "invalid request (the message names the field)", 404: "not found", 503: "busy, retry"}
    return {str(s): json_response(meaning.get(s, "error"), ref("Error")) for s in statuses}


def query_parameter(name: str, description: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": dict(schema),
    }


def path_parameter(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


def json_body(schema: Mapping[str, Any], description: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {"required": True, "content": {"application/json": {"schema": dict(schema)}}}
    if description:
        body["description"] = description
    return body


def document(modules: Iterable[ModuleType | Mapping[str, Any]]) -> dict[str, Any]:
    """The OpenAPI document of the given routes modules (or dicts with the same two keys)."""
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for module in modules:
        fragment = module if isinstance(module, Mapping) else vars(module)
        for path, item in fragment.get("OPENAPI_PATHS", {}).items():
            merged = paths.setdefault(path, {})
            for method, operation in item.items():
                if method in merged:
                    raise ValueError(f"two routes modules describe {method.upper()} {path}")
                merged[method] = operation
        for name, schema in fragment.get("OPENAPI_SCHEMAS", {}).items():
            if name in schemas and schemas[name] != schema:
                raise ValueError(f"two routes modules define the schema {name!r} differently")
            schemas[name] = schema
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "trajotel collector API",
            "version": __version__,
            "description": "Trajectories, feedback and SQL on the collector's OTLP/HTTP port (docs/api.md).",
        },
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": schemas},
    }
