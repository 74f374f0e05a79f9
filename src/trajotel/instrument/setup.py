"""``trajotel.instrument()``: what ``opentelemetry-instrument`` does, from inside the program.

    import trajotel
    trajotel.instrument()  # once, before the agent runs

1. When no OpenTelemetry SDK is configured yet (the global tracer provider is the API's proxy),
   configure it the way ``opentelemetry-instrument`` with trajotel's distro would: trajotel's
   environment defaults (``trajotel.instrument.distro.apply_defaults``: OTLP over HTTP/protobuf
   to the local collector or ``TRAJOTEL_ENDPOINT``, gzip, content on spans, a large span queue),
   then the SDK's standard configurator, which reads ``OTEL_*`` as usual. A program that set up
   its own provider keeps it, and the instrumentors record into it.
2. Instrument every library trajotel has an instrumentor for (entry points in the
   ``opentelemetry_instrumentor`` group whose name starts with ``trajotel_``) that is installed,
   skipping those named in ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``.

Calling it again does nothing. Failures are logged, never raised: the agent runs regardless.
"""

from __future__ import annotations

import logging
import os
import threading
from importlib.metadata import entry_points
from typing import Any

from opentelemetry import trace

__all__ = ["instrument"]

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "opentelemetry_instrumentor"
ENTRY_POINT_PREFIX = "trajotel_"
ENV_DISABLED = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"

_lock = threading.Lock()
_instrumented: dict[str, Any] = {}  # entry point name -> instrumentor, once instrumented


def instrument(*, configure_sdk: bool = True, **kwargs: Any) -> list[str]:
    """Instrument what is installed; return the names of the instrumentors now active.

    ``configure_sdk=False`` leaves the OpenTelemetry SDK alone (spans then go wherever the
    global tracer provider sends them, nowhere without one). Other keyword arguments
    (``tracer_provider=``, ``meter_provider=``) are passed to each instrumentor.
    """
    with _lock:
        if configure_sdk and "tracer_provider" not in kwargs:
            _configure_sdk_once()
        disabled = {name.strip() for name in os.environ.get(ENV_DISABLED, "").split(",") if name.strip()}
        for entry_point in entry_points(group=ENTRY_POINT_GROUP):
            name = entry_point.name
            if not name.startswith(ENTRY_POINT_PREFIX) or name in disabled or name in _instrumented:
                continue
            try:
                instrumentor = entry_point.load()()
            except ImportError as exc:
                # Its library is not installed: nothing to instrument. A broken trajotel module
                # is another matter, and worth a warning.
                if (exc.name or "").startswith("trajotel"):
                    logger.warning("trajotel: could not load instrumentor %s", name, exc_info=True)
                continue
            except Exception:
                logger.warning("trajotel: could not load instrumentor %s", name, exc_info=True)
                continue
            try:
                instrumentor.instrument(**kwargs)
            except Exception:
                logger.warning("trajotel: instrumentor %s failed", name, exc_info=True)
                continue
            if instrumentor.is_instrumented_by_opentelemetry:
                _instrumented[name] = instrumentor
        return sorted(_instrumented)


def uninstrument() -> None:
    """Undo ``instrument()`` for every instrumentor it activated (the SDK stays configured)."""
    with _lock:
        for instrumentor in _instrumented.values():
            try:
                instrumentor.uninstrument()
            except Exception:
                logger.warning("trajotel: could not uninstrument %r", instrumentor, exc_info=True)
        _instrumented.clear()


def _configure_sdk_once() -> None:
    from opentelemetry.sdk.trace import TracerProvider

    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return  # configured already, by the program or by an earlier call
    try:
        from trajotel.instrument.distro import TrajotelConfigurator, apply_defaults

        apply_defaults()
        TrajotelConfigurator().configure()
    except Exception:
        logger.warning("trajotel: could not configure the OpenTelemetry SDK", exc_info=True)
