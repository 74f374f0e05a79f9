"""The dialects trajotel understands, and the generic code that makes a span canonical.

One table (and, for content that is not GenAI message JSON, one shape function) per dialect;
the normalizer applies them generically, so supporting a dialect means adding a module and an
entry in ``DIALECTS``, not ``if`` branches elsewhere.
"""

from __future__ import annotations

from trajotel import semconv as sc
from trajotel.normalize import langsmith, openinference, openllmetry, pydantic_ai, vercel_ai
from trajotel.normalize.dialect import Dialect

_PROVIDER_VALUES = {"az.ai.openai": "azure.ai.openai", "vertex_ai": "gcp.vertex_ai", "gemini": "gcp.gemini"}

# GenAI semantic conventions up to 1.36, still emitted by many instrumentations.
GENAI_LEGACY = Dialect(
    name="genai_legacy",
    markers=(sc.GEN_AI_SYSTEM, "gen_ai.usage.prompt_tokens", "gen_ai.usage.completion_tokens"),
    renames={
        sc.GEN_AI_SYSTEM: sc.GEN_AI_PROVIDER_NAME,
        "gen_ai.usage.prompt_tokens": sc.GEN_AI_USAGE_INPUT_TOKENS,
        "gen_ai.usage.completion_tokens": sc.GEN_AI_USAGE_OUTPUT_TOKENS,
        "gen_ai.openai.request.seed": sc.GEN_AI_REQUEST_SEED,
        "gen_ai.openai.response.system_fingerprint": sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT,
        "gen_ai.openai.response.service_tier": sc.OPENAI_RESPONSE_SERVICE_TIER,
        "gen_ai.openai.request.service_tier": sc.OPENAI_REQUEST_SERVICE_TIER,
        "gen_ai.usage.cache_creation.input_tokens": sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
    },
    values={sc.GEN_AI_PROVIDER_NAME: _PROVIDER_VALUES},
)

# GenAI semantic conventions 1.37+ (what trajotel itself emits).
GENAI = Dialect(
    name="genai",
    markers=(sc.GEN_AI_OPERATION_NAME, sc.GEN_AI_PROVIDER_NAME),
    renames={
        "gen_ai.usage.cache_creation.input_tokens": sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
        # Current OpenLLMetry (0.5x+), otherwise on the 1.37 names.
        "gen_ai.usage.reasoning_tokens": sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
        "gen_ai.openai.response.system_fingerprint": sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT,
    },
    values={sc.GEN_AI_PROVIDER_NAME: _PROVIDER_VALUES},
)

# Checked in order; the first match names the span's dialect. Every matching table is
# applied: instrumentations in transition mix old and new names on one span.
# Foreign dialects come first: their spans often also carry some GenAI names.
DIALECTS: tuple[Dialect, ...] = (
    openllmetry.DIALECT,
    openinference.DIALECT,
    vercel_ai.DIALECT,
    pydantic_ai.DIALECT,
    langsmith.DIALECT,
    GENAI_LEGACY,
    GENAI,
)
PLAIN = "otel"


def detect(attributes: dict[str, str]) -> list[Dialect]:
    return [d for d in DIALECTS if d.matches(attributes)]


def apply(dialect: Dialect, attributes: dict[str, str]) -> dict[str, str]:
    """Return the attributes with the dialect's names and values made canonical.

    A canonical key that is already present wins over a renamed one (instrumentations in
    transition often emit both)."""
    out = dict(attributes)
    for old, new in dialect.renames.items():
        if old in out:
            value = out.pop(old)
            out.setdefault(new, value)
    for key, mapping in dialect.values.items():
        if key in out and out[key] in mapping:
            out[key] = mapping[out[key]]
    return out
