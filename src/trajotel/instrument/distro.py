"""The trajotel OpenTelemetry distro: ``opentelemetry-instrument python agent.py`` exports to a
local trajotel collector with no extra settings.

The distro only fills in environment defaults (``os.environ.setdefault``): anything the user set
wins, and the standard SDK configurator then reads the environment as usual.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro
from opentelemetry.sdk._configuration import _OTelSDKConfigurator

from trajotel import semconv as sc

__all__ = ["TrajotelConfigurator", "TrajotelDistro", "apply_defaults", "script_service_name"]

ENV_TRAJOTEL_ENDPOINT = "TRAJOTEL_ENDPOINT"

DEFAULTS = {
    "OTEL_TRACES_EXPORTER": "otlp",
    "OTEL_LOGS_EXPORTER": "otlp",
    # The collector does not store metrics yet: exporting them would only produce errors.
    "OTEL_METRICS_EXPORTER": "none",
    # gRPC's 4 MiB default message limit breaks on long agent histories; HTTP has no such cap.
    "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
    # A trajectory needs the messages; the upstream default records none.
    sc.ENV_CAPTURE_MESSAGE_CONTENT: "SPAN_ONLY",
    # The SDK default queue (2048) drops spans of busy agents.
    "OTEL_BSP_MAX_QUEUE_SIZE": "65536",
}


def apply_defaults(environ: MutableMapping[str, str] | None = None) -> None:
    """Fill in trajotel's exporter defaults; values already present are left as they are."""
    env = os.environ if environ is None else environ
    for key, value in DEFAULTS.items():
        env.setdefault(key, value)
    env.setdefault("OTEL_EXPORTER_OTLP_ENDPOINT", env.get(ENV_TRAJOTEL_ENDPOINT) or _local_endpoint(env))
    if "OTEL_SERVICE_NAME" not in env and not _has_resource_service_name(
        env.get("OTEL_RESOURCE_ATTRIBUTES", "")
    ):
        name = script_service_name()
        if name:
            env["OTEL_SERVICE_NAME"] = name


def _local_endpoint(env: MutableMapping[str, str]) -> str:
    # A user who switched to gRPC still reaches the local collector, on its gRPC port.
    grpc = env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "").strip() == "grpc"
    return f"http://127.0.0.1:{sc.DEFAULT_GRPC_PORT if grpc else sc.DEFAULT_HTTP_PORT}"


def _has_resource_service_name(resource_attributes: str) -> bool:
    return any(item.split("=", 1)[0].strip() == sc.SERVICE_NAME for item in resource_attributes.split(","))


def script_service_name(
    argv: Sequence[str] | None = None, orig_argv: Sequence[str] | None = None
) -> str | None:
    """The running program's name: ``agent`` for ``agent.py``, ``pkg.mod`` for ``-m pkg.mod``.

    The distro runs from sitecustomize, where ``sys.argv`` is ``['-m']`` for modules; the module
    name is only in ``sys.orig_argv``. ``-c`` and the REPL give None (the SDK default remains).
    """
    argv = list(sys.argv if argv is None else argv)
    orig = list(getattr(sys, "orig_argv", []) if orig_argv is None else orig_argv)
    if not argv or argv[0] in ("", "-c"):
        return None
    if argv[0] == "-m":
        return orig[orig.index("-m") + 1] if "-m" in orig[:-1] else None
    return Path(argv[0]).stem or None


class TrajotelDistro(BaseDistro):
    """Loaded by ``opentelemetry-instrument`` (entry point ``opentelemetry_distro = trajotel``)."""

    def _configure(self, **kwargs: Any) -> None:
        apply_defaults()


class TrajotelConfigurator(_OTelSDKConfigurator):
    """The standard SDK configurator: everything trajotel needs comes from the environment."""
