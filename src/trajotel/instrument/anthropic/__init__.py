"""OpenTelemetry instrumentation of the ``anthropic`` SDK, GenAI conventions 1.37+ shape.

    from trajotel.instrument.anthropic import AnthropicInstrumentor
    AnthropicInstrumentor().instrument(tracer_provider=provider)  # or opentelemetry-instrument

Covered: ``messages.create`` (streamed with ``stream=True`` or not), ``messages.parse`` and the
``messages.stream()`` helper of ``Anthropic`` and ``AsyncAnthropic``, on both ``client.messages``
and ``client.beta.messages``: one ``chat {model}`` CLIENT span per call, current during the HTTP
request only. While instrumented, the SDK's own ``anthropic.messages.create`` span is not emitted
for those calls (see ``trajotel.instrument.anthropic.wrappers``), so each model call is one turn.
A call the SDK rejects before sending anything (pydantic-ai's first, non-streamed attempt with a
large ``max_tokens`` raises "Streaming is required" client-side) is no model call: no span.

Metrics: ``gen_ai.client.operation.duration`` and ``gen_ai.client.token.usage`` (input counted
the conventions' way: with the tokens read from and written to the cache), once per call.

Content follows OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT, read at every call.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Collection
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import unwrap

from trajotel import __version__
from trajotel.instrument import genai
from trajotel.instrument.anthropic.wrappers import (
    InstrumentationState,
    async_messages_create,
    async_messages_stream,
    messages_create,
    messages_stream,
    suppress_sdk_span,
)
from trajotel.instrument.metrics import GenAIClientMetrics

__all__ = ["AnthropicInstrumentor"]

logger = logging.getLogger(__name__)

_INSTRUMENTS = ("anthropic >= 0.40",)
_SCHEMA_URL = "https://opentelemetry.io/schemas/1.37.0"
# The resources trajotel wraps: the stable one and the beta one (same methods, own classes).
_MESSAGES_MODULES = ("anthropic.resources.messages", "anthropic.resources.beta.messages.messages")
_CREATE_METHODS = ("create", "parse")
# Where the SDK (2.x) starts its own call spans; absent from SDKs without built-in tracing.
_BASE_CLIENT_MODULE = "anthropic._base_client"
_SDK_SPAN_FUNCTION = "start_api_call_span"


class AnthropicInstrumentor(BaseInstrumentor):
    """Records ``messages.create`` / ``messages.stream`` calls (sync, async) as ``chat`` spans."""

    _state: InstrumentationState | None = None
    _suppressing: bool = False

    def instrumentation_dependencies(self) -> Collection[str]:
        return _INSTRUMENTS

    def _instrument(self, **kwargs: Any) -> None:
        try:
            import wrapt

            tracer = trace.get_tracer(
                __name__, __version__, kwargs.get("tracer_provider"), schema_url=_SCHEMA_URL
            )
            state = InstrumentationState()
            metrics = genai.safe_call(GenAIClientMetrics, kwargs.get("meter_provider"), __name__)
            sync_wrappers = {
                **{method: messages_create(tracer, state, metrics) for method in _CREATE_METHODS},
                "stream": messages_stream(tracer, state, metrics),
            }
            async_wrappers = {
                **{method: async_messages_create(tracer, state, metrics) for method in _CREATE_METHODS},
                "stream": async_messages_stream(tracer, state, metrics),
            }
            for cls in _resource_classes():
                wrappers = async_wrappers if cls.__name__.startswith("Async") else sync_wrappers
                for method, wrapper in wrappers.items():
                    # Older SDKs lack some methods (parse): wrap what exists.
                    if callable(getattr(cls, method, None)):
                        wrapt.wrap_function_wrapper(cls, method, wrapper)
            self._state = state
        except Exception:
            # A broken instrumentation must not stop the agent (or opentelemetry-instrument).
            logger.warning("trajotel: could not instrument anthropic", exc_info=True)
            return
        self._suppressing = self._suppress_sdk_spans(state)

    @staticmethod
    def _suppress_sdk_spans(state: InstrumentationState) -> bool:
        try:
            import wrapt

            module = importlib.import_module(_BASE_CLIENT_MODULE)
            if not callable(getattr(module, _SDK_SPAN_FUNCTION, None)):
                return False  # an SDK without built-in spans: nothing to turn off
            wrapt.wrap_function_wrapper(module, _SDK_SPAN_FUNCTION, suppress_sdk_span(state))
            return True
        except Exception:
            # Then both spans are emitted: a duplicate turn is better than a broken agent.
            logger.warning("trajotel: could not turn off the anthropic SDK's own spans", exc_info=True)
            return False

    def _uninstrument(self, **kwargs: Any) -> None:
        if self._state is not None:
            self._state.active = False
            self._state = None
        try:
            for cls in _resource_classes():
                for method in (*_CREATE_METHODS, "stream"):
                    if hasattr(getattr(cls, method, None), "__wrapped__"):
                        unwrap(cls, method)
            if self._suppressing:
                unwrap(importlib.import_module(_BASE_CLIENT_MODULE), _SDK_SPAN_FUNCTION)
                self._suppressing = False
        except Exception:
            logger.warning("trajotel: could not uninstrument anthropic", exc_info=True)


def _resource_classes() -> list[type]:
    """The ``Messages`` / ``AsyncMessages`` classes of each wrapped resource this SDK has."""
    classes = []
    for module_name in _MESSAGES_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue  # an SDK without this resource (older versions have no beta messages)
        classes += [getattr(module, name) for name in ("Messages", "AsyncMessages") if hasattr(module, name)]
    return classes
