"""OpenTelemetry instrumentation of the ``ollama`` Python client, GenAI conventions 1.37+ shape.

    from trajotel.instrument.ollama import OllamaInstrumentor
    OllamaInstrumentor().instrument(tracer_provider=provider)  # or opentelemetry-instrument

Covered: ``chat`` of ``ollama.Client`` and ``ollama.AsyncClient``, streamed or not, with tools:
one ``chat {model}`` CLIENT span per call with ``gen_ai.provider.name=ollama``, request options
(``num_predict`` as max tokens, temperature, top_p, seed, stop...), the done reason, token counts
(``prompt_eval_count`` / ``eval_count``) and, when content is captured, messages (thinking as
reasoning parts, images as blobs), tool definitions and the output message. Ollama's tool calls
have no ids: their parts have none.

Not covered: ``generate``, ``embed``; metrics; the module-level ``ollama.chat``, a method of a
default client bound when ``ollama`` is imported, before any instrumentor can wrap it.
Off under ``opentelemetry-instrument`` with ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=trajotel_ollama``.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import unwrap

from trajotel import __version__
from trajotel.instrument.ollama.wrappers import InstrumentationState, async_chat, chat

__all__ = ["OllamaInstrumentor"]

logger = logging.getLogger(__name__)

_INSTRUMENTS = ("ollama >= 0.4",)
_SCHEMA_URL = "https://opentelemetry.io/schemas/1.37.0"
_CLIENT_MODULE = "ollama._client"


class OllamaInstrumentor(BaseInstrumentor):
    """Records ``chat`` calls of the ollama client (sync and async) as GenAI ``chat`` spans."""

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
            wrapt.wrap_function_wrapper(_CLIENT_MODULE, "Client.chat", chat(tracer, state))
            wrapt.wrap_function_wrapper(_CLIENT_MODULE, "AsyncClient.chat", async_chat(tracer, state))
            self._state = state
        except Exception:
            # A broken instrumentation must not stop the agent (or opentelemetry-instrument).
            logger.warning("trajotel: could not instrument ollama", exc_info=True)

    def _uninstrument(self, **kwargs: Any) -> None:
        if self._state is not None:
            self._state.active = False
            self._state = None
        try:
            from ollama._client import AsyncClient, Client

            unwrap(Client, "chat")
            unwrap(AsyncClient, "chat")
        except Exception:
            logger.warning("trajotel: could not uninstrument ollama", exc_info=True)
