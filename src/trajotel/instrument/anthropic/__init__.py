"""OpenTelemetry instrumentation of the ``anthropic`` SDK, GenAI conventions 1.37+ shape.

    from trajotel.instrument.anthropic import AnthropicInstrumentor
    AnthropicInstrumentor().instrument(tracer_provider=provider)  # or opentelemetry-instrument

Covered: ``messages.create`` of ``Anthropic`` and ``AsyncAnthropic``, streamed (``stream=True``)
or not, and the ``messages.stream()`` helper: one ``chat {model}`` CLIENT span per call, current
during the HTTP request only. While instrumented, the SDK's own ``anthropic.messages.create``
span is not emitted for those calls (see ``trajotel.instrument.anthropic.wrappers``), so each
model call is one turn.

Not covered yet: ``messages.parse()`` and the beta resources (they post without going through
``create``; their SDK spans are left as they are); metrics.

Content follows OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT, read at every call.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import unwrap

from trajotel import __version__
from trajotel.instrument.anthropic.wrappers import (
    InstrumentationState,
    async_messages_create,
    async_messages_stream,
    messages_create,
    messages_stream,
    suppress_sdk_span,
)

__all__ = ["AnthropicInstrumentor"]

logger = logging.getLogger(__name__)

_INSTRUMENTS = ("anthropic >= 0.40",)
_SCHEMA_URL = "https://opentelemetry.io/schemas/1.37.0"
_MESSAGES_MODULE = "anthropic.resources.messages"
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
            wrapt.wrap_function_wrapper(_MESSAGES_MODULE, "Messages.create", messages_create(tracer, state))
            wrapt.wrap_function_wrapper(
                _MESSAGES_MODULE, "AsyncMessages.create", async_messages_create(tracer, state)
            )
            wrapt.wrap_function_wrapper(_MESSAGES_MODULE, "Messages.stream", messages_stream(tracer, state))
            wrapt.wrap_function_wrapper(
                _MESSAGES_MODULE, "AsyncMessages.stream", async_messages_stream(tracer, state)
            )
            self._state = state
        except Exception:
            # A broken instrumentation must not stop the agent (or opentelemetry-instrument).
            logger.warning("trajotel: could not instrument anthropic", exc_info=True)
            return
        self._suppressing = self._suppress_sdk_spans(state)

    @staticmethod
    def _suppress_sdk_spans(state: InstrumentationState) -> bool:
        try:
            import importlib

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
            from anthropic.resources.messages import AsyncMessages, Messages

            for cls in (Messages, AsyncMessages):
                unwrap(cls, "create")
                unwrap(cls, "stream")
            if self._suppressing:
                import importlib

                unwrap(importlib.import_module(_BASE_CLIENT_MODULE), _SDK_SPAN_FUNCTION)
                self._suppressing = False
        except Exception:
            logger.warning("trajotel: could not uninstrument anthropic", exc_info=True)
