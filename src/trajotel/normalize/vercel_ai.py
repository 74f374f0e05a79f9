"""Vercel AI SDK: ai.* attributes (ai.prompt.messages, ai.response.*, ai.usage.*)."""

from __future__ import annotations

from trajotel.normalize.dialect import Dialect

# Placeholder until its table and shape function are written: matches no span.
DIALECT = Dialect(name="vercel_ai")
