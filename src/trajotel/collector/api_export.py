"""Exports and imports run inside the collector: ``POST /v1/export`` and ``POST /v1/import``.

``trajotel export`` / ``trajotel import`` use them while a collector holds the embedded store
(one process may open it). Both run in the request and write or read files on the collector's
machine, which is the command's (the collector advertises itself in its data directory): paths
must be absolute. Stopping the collector stops an export in progress; it writes nothing.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from trajotel.collector.api_trajectories import json_body_of
from trajotel.collector.openapi import errors, json_body, json_response
from trajotel.config import Config
from trajotel.errors import InvalidInputError
from trajotel.export.imports import CONFLICTS, FORMATS, ImportOptions, import_files
from trajotel.export.run import export, settings_from_config
from trajotel.receive.http_server import HttpRequest, HttpResponse, Route
from trajotel.store import Store


def _fields(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise InvalidInputError(
            f"unknown field {unknown[0]!r} in the request body", hint=f"fields: {', '.join(allowed)}"
        )


def _absolute(path: Any, what: str) -> str:
    if not isinstance(path, str) or not Path(path).expanduser().is_absolute():
        raise InvalidInputError(f"{what} must be an absolute path, not {path!r}")
    return path


def routes(
    store: Store, config: Config, cancel: threading.Event | None = None
) -> dict[tuple[str, str], Route]:
    settings = settings_from_config(config)

    def run_export(request: HttpRequest) -> HttpResponse:
        body = json_body_of(request)
        _fields(body, ("options", "reset"))
        given = body.get("options")
        if not isinstance(given, dict):
            raise InvalidInputError(
                '"options" must be an object of export settings', hint='e.g. {"format": ...}'
            )
        if "out" in given:
            _absolute(given["out"], '"out"')
        reset = body.get("reset", False)
        if not isinstance(reset, bool):
            raise InvalidInputError('"reset" must be true or false')
        return HttpResponse.json(export(store, given, settings, reset=reset, cancel=cancel))

    def run_import(request: HttpRequest) -> HttpResponse:
        body = json_body_of(request)
        _fields(body, ("paths", "format", "tenant", "on_conflict", "service", "agent"))
        paths = body.get("paths")
        if not isinstance(paths, list) or not paths:
            raise InvalidInputError('"paths" must be a list of absolute file or directory paths')
        for name in ("format", "tenant", "on_conflict", "service", "agent"):
            if body.get(name) is not None and not isinstance(body[name], str):
                raise InvalidInputError(f'"{name}" must be a string')
        options = ImportOptions(
            format=body.get("format") or "trajotel",
            tenant=body.get("tenant"),
            on_conflict=body.get("on_conflict") or "skip",
            service=body.get("service"),
            agent=body.get("agent"),
        )
        report = import_files(store, [_absolute(p, "each path") for p in paths], options)
        return HttpResponse.json(report.to_dict())

    return {("POST", "/v1/export"): run_export, ("POST", "/v1/import"): run_import}


_STRING = {"type": "string"}

OPENAPI_PATHS: dict[str, Any] = {
    "/v1/export": {
        "post": {
            "summary": "Run a dataset export now (docs/export.md); the answer is its manifest",
            "operationId": "export",
            "requestBody": json_body(
                {
                    "type": "object",
                    "required": ["options"],
                    "additionalProperties": False,
                    "properties": {
                        "options": {
                            "type": "object",
                            "description": "export settings (ExportSpec fields): format, out (absolute), "
                            "name, filters, shaping; a named export's stored ones fill the rest",
                        },
                        "reset": {"type": "boolean", "description": "start the named export over"},
                    },
                }
            ),
            "responses": {"200": json_response("the manifest", {"type": "object"}), **errors(400)},
        }
    },
    "/v1/import": {
        "post": {
            "summary": "Import trajectories from files on the collector's machine",
            "operationId": "import",
            "requestBody": json_body(
                {
                    "type": "object",
                    "required": ["paths"],
                    "additionalProperties": False,
                    "properties": {
                        "paths": {"type": "array", "items": _STRING, "description": "absolute paths"},
                        "format": {"type": "string", "enum": list(FORMATS), "default": "trajotel"},
                        "tenant": _STRING,
                        "on_conflict": {"type": "string", "enum": list(CONFLICTS), "default": "skip"},
                        "service": _STRING,
                        "agent": _STRING,
                    },
                }
            ),
            "responses": {
                "200": json_response(
                    "what was imported",
                    {
                        "type": "object",
                        "properties": {
                            "read": {"type": "integer"},
                            "imported": {"type": "integer"},
                            "existing": {"type": "integer"},
                            "files": {"type": "array", "items": _STRING},
                        },
                    },
                ),
                **errors(400),
            },
        }
    },
}
