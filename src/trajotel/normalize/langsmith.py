"""LangSmith's OpenTelemetry export (LANGSMITH_OTEL_ENABLED)."""

from __future__ import annotations

from trajotel.normalize.dialect import Dialect

# Placeholder until its table and shape function are written: matches no span.
DIALECT = Dialect(name="langsmith")
