"""pydantic-ai / Logfire: the older events-attribute encoding of agent runs."""

from __future__ import annotations

from trajotel.normalize.dialect import Dialect

# Placeholder until its table and shape function are written: matches no span.
DIALECT = Dialect(name="pydantic_ai")
