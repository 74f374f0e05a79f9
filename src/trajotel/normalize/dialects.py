"""Rename tables: each foreign dialect's attribute names -> the canonical GenAI names.

One table per dialect; the normalizer applies them generically, so supporting a dialect means
adding a table here, not ``if`` branches elsewhere. (Flattened message encodings such as
OpenLLMetry's ``gen_ai.prompt.N.*`` and OpenInference's ``llm.input_messages.N.*`` come with
the assembly issue.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trajotel import semconv as sc


@dataclass(frozen=True)
class Dialect:
    name: str
    # A span belongs to the dialect when it carries any of these attribute keys.
    markers: tuple[str, ...]
    renames: dict[str, str] = field(default_factory=dict)
    # Value rewrites for canonical keys, e.g. old provider spellings.
    values: dict[str, dict[str, str]] = field(default_factory=dict)


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
    renames={"gen_ai.usage.cache_creation.input_tokens": sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS},
    values={sc.GEN_AI_PROVIDER_NAME: _PROVIDER_VALUES},
)

# Checked in order; the first match names the span's dialect. Every matching table is
# applied: instrumentations in transition mix old and new names on one span.
DIALECTS: tuple[Dialect, ...] = (GENAI_LEGACY, GENAI)
PLAIN = "otel"


def detect(attributes: dict[str, str]) -> list[Dialect]:
    return [d for d in DIALECTS if any(key in attributes for key in d.markers)]


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
