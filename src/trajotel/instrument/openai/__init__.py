"""OpenTelemetry instrumentation of the ``openai`` SDK, GenAI conventions 1.37+ shape.

    from trajotel.instrument.openai import OpenAIInstrumentor
    OpenAIInstrumentor().instrument(tracer_provider=provider)  # or opentelemetry-instrument

Covered: ``chat.completions.create`` of ``OpenAI`` and ``AsyncOpenAI``, streamed or not, directly
or through ``with_raw_response``: one ``chat {model}`` CLIENT span per call, current during the
HTTP request only. See ``trajotel.instrument.openai.wrappers`` for what streams record.

Not covered yet (later issues): ``chat.completions.parse`` and the Responses API are not
wrapped; calls through ``with_streaming_response``, and streamed calls through
``with_raw_response``, get a span without response attributes (the body is unread when
``create`` returns). ``with_raw_response`` binds ``create`` on first access, so a client whose
``with_raw_response`` was used before ``instrument()`` keeps calling the unwrapped method.

Metrics: ``gen_ai.client.operation.duration`` and ``gen_ai.client.token.usage``, once per call
(for streams, when the stream's span ends), from ``instrument(meter_provider=...)`` or the
global meter provider; see ``trajotel.instrument.metrics``.

Content (messages, tool definitions) follows OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT,
read at every call; see ``trajotel.instrument.genai.content_capture_mode``.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import unwrap

from trajotel import __version__
from trajotel.instrument import genai
from trajotel.instrument.metrics import GenAIClientMetrics
from trajotel.instrument.openai.wrappers import (
    InstrumentationState,
    async_chat_completions_create,
    chat_completions_create,
)

__all__ = ["OpenAIInstrumentor"]

logger = logging.getLogger(__name__)

_INSTRUMENTS = ("openai >= 1.40",)
_SCHEMA_URL = "https://opentelemetry.io/schemas/1.37.0"
_COMPLETIONS_MODULE = "openai.resources.chat.completions"


class OpenAIInstrumentor(BaseInstrumentor):
    """Records ``chat.completions.create`` calls (sync and async) as GenAI ``chat`` spans."""

    _state: InstrumentationState | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return _INSTRUMENTS

    def _instrument(self, **kwargs: Any) -> None:
        try:
            import wrapt

            tracer = trace.get_tracer(
                __name__, __version__, kwargs.get("tracer_provider"), schema_url=_SCHEMA_URL
            )
            state = InstrumentationState()
            # Metrics are optional: without them the spans are still worth having.
            metrics = genai.safe_call(GenAIClientMetrics, kwargs.get("meter_provider"), __name__)
            wrapt.wrap_function_wrapper(
                _COMPLETIONS_MODULE,
                "Completions.create",
                chat_completions_create(tracer, state, metrics),
            )
            wrapt.wrap_function_wrapper(
                _COMPLETIONS_MODULE,
                "AsyncCompletions.create",
                async_chat_completions_create(tracer, state, metrics),
            )
            self._state = state
        except Exception:
            # A broken instrumentation must not stop the agent (or opentelemetry-instrument).
            logger.warning("trajotel: could not instrument openai", exc_info=True)

    def _uninstrument(self, **kwargs: Any) -> None:
        if self._state is not None:
            self._state.active = False
            self._state = None
        try:
            from openai.resources.chat.completions import AsyncCompletions, Completions

            unwrap(Completions, "create")
            unwrap(AsyncCompletions, "create")
        except Exception:
            logger.warning("trajotel: could not uninstrument openai", exc_info=True)
