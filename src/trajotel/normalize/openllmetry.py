"""OpenLLMetry (traceloop): flattened gen_ai.prompt.N.* / gen_ai.completion.N.*, traceloop span kinds."""

from __future__ import annotations

from trajotel.normalize.dialect import Dialect

# Placeholder until its table and shape function are written: matches no span.
DIALECT = Dialect(name="openllmetry")
