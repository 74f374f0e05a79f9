"""GenAI client metrics (``gen_ai.client.token.usage``, ``gen_ai.client.operation.duration``),
shared by every trajotel instrumentor.

Instruments carry the conventions' bucket boundaries as an advisory: the SDK's default buckets
(made for milliseconds) would put every LLM call in one or two buckets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import metrics
from opentelemetry.metrics import MeterProvider, NoOpHistogram

from trajotel import __version__
from trajotel import semconv as sc
from trajotel.instrument import genai

__all__ = ["DURATION_BUCKETS", "TOKEN_USAGE_BUCKETS", "GenAIClientMetrics"]

TOKEN_USAGE_BUCKETS = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
DURATION_BUCKETS = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip

_SCHEMA_URL = "https://opentelemetry.io/schemas/1.37.0"

# The attributes both metrics take from the span (the conventions' list; nothing high-cardinality).
METRIC_ATTRIBUTES = (
    sc.GEN_AI_OPERATION_NAME,
    sc.GEN_AI_PROVIDER_NAME,
    sc.GEN_AI_REQUEST_MODEL,
    sc.GEN_AI_RESPONSE_MODEL,
    sc.SERVER_ADDRESS,
    sc.SERVER_PORT,
)


class GenAIClientMetrics:
    """The two GenAI client histograms of one instrumentor; ``record`` never raises."""

    def __init__(self, meter_provider: MeterProvider | None = None, name: str = __name__) -> None:
        meter = metrics.get_meter(name, __version__, meter_provider, schema_url=_SCHEMA_URL)
        self.token_usage = meter.create_histogram(
            sc.GEN_AI_CLIENT_TOKEN_USAGE,
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=TOKEN_USAGE_BUCKETS,
        )
        self.operation_duration = meter.create_histogram(
            sc.GEN_AI_CLIENT_OPERATION_DURATION,
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )

    @property
    def enabled(self) -> bool:
        """False while the measurements would go nowhere (no meter provider set, or a no-op
        one): callers skip building them. Checked per call: a provider may be set later."""
        return not (_discards(self.operation_duration) and _discards(self.token_usage))

    def record(
        self,
        duration: float,
        attributes: Mapping[str, Any],
        usage: Any = None,
        error_type: str | None = None,
        tokens: Mapping[str, int] | None = None,
    ) -> None:
        """Record one operation: its duration, and its token usage when the response had one.

        ``usage`` is an OpenAI-format usage object; a provider with another format passes its
        usage attributes (``gen_ai.usage.*`` keys, already counted the conventions' way) as
        ``tokens`` instead.
        """
        genai.safe_call(self._record, duration, attributes, usage, error_type, tokens)

    def _record(
        self,
        duration: float,
        attributes: Mapping[str, Any],
        usage: Any,
        error_type: str | None,
        tokens: Mapping[str, int] | None,
    ) -> None:
        base = {
            key: value
            for key in METRIC_ATTRIBUTES
            if isinstance(value := attributes.get(key), (str, int)) and value != ""
        }
        duration_attributes = dict(base)
        if error_type:
            duration_attributes[sc.ERROR_TYPE] = error_type
        self.operation_duration.record(max(0.0, duration), duration_attributes)
        if tokens is None:
            if usage is None:
                return
            tokens = genai.usage_attributes(usage)
        for token_type, key in (
            (sc.TOKEN_TYPE_INPUT, sc.GEN_AI_USAGE_INPUT_TOKENS),
            (sc.TOKEN_TYPE_OUTPUT, sc.GEN_AI_USAGE_OUTPUT_TOKENS),
        ):
            # A missing count stays missing: recording 0 would skew the distribution.
            if key in tokens:
                self.token_usage.record(tokens[key], {**base, sc.GEN_AI_TOKEN_TYPE: token_type})


def _discards(instrument: Any) -> bool:
    # An instrument from the global (proxy) meter provider holds its real instrument once a
    # provider is set; until then, or with the no-op provider, a measurement is dropped.
    real = getattr(instrument, "_real_instrument", instrument)
    return real is None or isinstance(real, NoOpHistogram)
