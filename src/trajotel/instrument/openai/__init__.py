"""OpenTelemetry instrumentation of the ``openai`` SDK, GenAI conventions 1.37+ shape.

    from trajotel.instrument.openai import OpenAIInstrumentor
    OpenAIInstrumentor().instrument(tracer_provider=provider)  # or opentelemetry-instrument

Covered, for ``OpenAI`` and ``AsyncOpenAI`` (and the Azure clients), one CLIENT span per call,
current during the HTTP request only:

* ``chat.completions.create`` (streamed or not), ``.parse`` and ``.stream``: ``chat {model}``
  (``chat.py``);
* ``responses.create`` (streamed or not), ``.parse`` and ``.stream``: ``chat {model}`` with
  ``openai.api.type=responses`` (``responses.py``);
* ``embeddings.create``: ``embeddings {model}`` (``embeddings.py``);
* legacy ``completions.create`` (streamed or not): ``text_completion {model}``
  (``completions.py``).

Each also through ``with_raw_response`` and ``with_streaming_response``: the span then records
the response when the caller parses or reads the body, and ends at the latest when the body is
closed or its ``with`` block exits (see ``bodies.py``). Streams end their span exactly once:
exhausted, failed, closed, left, or garbage collected. ``gen_ai.provider.name`` is
``azure.ai.openai`` for the Azure clients, else named from the base URL's host
(``provider.py``: DeepSeek, Groq, Mistral, xAI, Gemini, OpenRouter, ...), else ``openai``.

Limits: ``with_raw_response`` binds the method on first access, so a client whose
``with_raw_response`` was used before ``instrument()`` keeps calling the unwrapped method (and,
for the same reason, a stale wrapper stays inert after ``uninstrument()``). A body read only
through ``iter_bytes()`` / ``iter_text()`` / ``iter_lines()`` gets a span without response
attributes. Other endpoints (images, audio, ``responses.retrieve``, realtime...) are not
recorded.

Metrics: ``gen_ai.client.operation.duration`` and ``gen_ai.client.token.usage``, once per call
(for streams, when the stream's span ends), from ``instrument(meter_provider=...)`` or the
global meter provider; see ``trajotel.instrument.metrics``.

Content (messages, system instructions, tool definitions) follows
OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT, read at every call; see
``trajotel.instrument.genai.content_capture_mode``. Embeddings never record their input.
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
from trajotel.instrument.metrics import GenAIClientMetrics
from trajotel.instrument.openai import chat, completions, embeddings, responses
from trajotel.instrument.openai.bodies import stream_helper
from trajotel.instrument.openai.wrappers import Api, InstrumentationState, async_wrapper, sync_wrapper

__all__ = ["OpenAIInstrumentor"]

logger = logging.getLogger(__name__)

_INSTRUMENTS = ("openai >= 1.40",)
_SCHEMA_URL = "https://opentelemetry.io/schemas/1.37.0"

_CHAT = "openai.resources.chat.completions"
_RESPONSES = "openai.resources.responses"

# (module, class, method, what it records, is a coroutine function)
_METHODS: tuple[tuple[str, str, str, Api, bool], ...] = (
    (_CHAT, "Completions", "create", chat.API, False),
    (_CHAT, "AsyncCompletions", "create", chat.API, True),
    # parse() posts on its own; stream() goes through create() and needs no span of its own.
    (_CHAT, "Completions", "parse", chat.API, False),
    (_CHAT, "AsyncCompletions", "parse", chat.API, True),
    (_RESPONSES, "Responses", "create", responses.API, False),
    (_RESPONSES, "AsyncResponses", "create", responses.API, True),
    (_RESPONSES, "Responses", "parse", responses.API, False),
    (_RESPONSES, "AsyncResponses", "parse", responses.API, True),
    ("openai.resources.embeddings", "Embeddings", "create", embeddings.API, False),
    ("openai.resources.embeddings", "AsyncEmbeddings", "create", embeddings.API, True),
    ("openai.resources.completions", "Completions", "create", completions.API, False),
    ("openai.resources.completions", "AsyncCompletions", "create", completions.API, True),
)

# ``.stream()`` helpers: their managers must also close the stream ``create`` returned.
_STREAM_HELPERS: tuple[tuple[str, str], ...] = (
    (_CHAT, "Completions"),
    (_CHAT, "AsyncCompletions"),
    (_RESPONSES, "Responses"),
    (_RESPONSES, "AsyncResponses"),
)


class OpenAIInstrumentor(BaseInstrumentor):
    """Records openai chat, Responses, embeddings and legacy completion calls as GenAI spans."""

    _state: InstrumentationState | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return _INSTRUMENTS

    def _instrument(self, **kwargs: Any) -> None:
        try:
            tracer = trace.get_tracer(
                __name__, __version__, kwargs.get("tracer_provider"), schema_url=_SCHEMA_URL
            )
            state = InstrumentationState()
            # Metrics are optional: without them the spans are still worth having.
            metrics = genai.safe_call(GenAIClientMetrics, kwargs.get("meter_provider"), __name__)
            self._state = state
        except Exception:
            # A broken instrumentation must not stop the agent (or opentelemetry-instrument).
            logger.warning("trajotel: could not instrument openai", exc_info=True)
            return
        for module, cls, method, api, is_async in _METHODS:
            factory = async_wrapper if is_async else sync_wrapper
            _wrap(module, f"{cls}.{method}", factory(tracer, state, api, metrics))
        for module, cls in _STREAM_HELPERS:
            _wrap(module, f"{cls}.stream", stream_helper(state))

    def _uninstrument(self, **kwargs: Any) -> None:
        if self._state is not None:
            self._state.active = False
            self._state = None
        targets = [(m, c, method) for m, c, method, _, _ in _METHODS]
        targets += [(m, c, "stream") for m, c in _STREAM_HELPERS]
        for module, cls, method in targets:
            try:
                unwrap(getattr(importlib.import_module(module), cls), method)
            except Exception:
                logger.warning("trajotel: could not uninstrument openai %s.%s", cls, method, exc_info=True)


def _wrap(module: str, name: str, wrapper: Any) -> None:
    """Wrap one SDK method; one missing from this SDK version loses only its own spans."""
    import wrapt

    try:
        wrapt.wrap_function_wrapper(module, name, wrapper)
    except Exception:
        logger.warning("trajotel: could not instrument openai %s.%s", module, name, exc_info=True)
