"""OpenInference (Arize): llm.input_messages.N.* / llm.output_messages.N.*, llm.tools, span kinds."""

from __future__ import annotations

from trajotel.normalize.dialect import Dialect

# Placeholder until its table and shape function are written: matches no span.
DIALECT = Dialect(name="openinference")
