"""A catch-all OpenTelemetry instrumentation of LLM calls made over ``httpx`` or ``httpx2``.

    from trajotel.instrument.http import HTTPCatchAllInstrumentor
    HTTPCatchAllInstrumentor().instrument(tracer_provider=provider)  # or opentelemetry-instrument

Any client built on httpx or httpx2 (openai 3.x and anthropic 2.x use httpx2; litellm, ollama,
LangChain's and many home-made clients use httpx) gets one GenAI span per call to an
OpenAI-format API (``POST .../chat/completions``, ``.../completions``, ``.../embeddings``) or
to the Anthropic Messages API (``POST .../v1/messages``, ``?beta=true`` included), JSON or
streamed (SSE), sync or async. Each library is wrapped on its own, if it is importable.

No doubling: while another instrumentation's LLM span is current (trajotel's openai/anthropic
instrumentors, OpenLLMetry, OpenInference, openai-v2, the anthropic SDK's own span...), the
catch-all records nothing; see ``wrappers.llm_span_is_current``. With only the catch-all on, an
anthropic 2.x client keeps its own ``anthropic.messages.create`` span, which is current during
the request: that span is the record, and the catch-all stays out of the way.

One span per HTTP attempt: an SDK's retries are separate requests, so separate spans.
Off: ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=trajotel_http`` under ``opentelemetry-instrument``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Collection
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.dependencies import DependencyConflict, get_dependency_conflicts
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import unwrap

from trajotel import __version__
from trajotel.instrument.http.wrappers import InstrumentationState, async_send_wrapper, send_wrapper

__all__ = ["HTTPCatchAllInstrumentor"]

logger = logging.getLogger(__name__)

# Either suffices; each one present is wrapped.
LIBRARIES = ("httpx", "httpx2")
_INSTRUMENTS_ANY = ("httpx >= 0.23", "httpx2 >= 2")
_SCHEMA_URL = "https://opentelemetry.io/schemas/1.37.0"


class HTTPCatchAllInstrumentor(BaseInstrumentor):
    """Records OpenAI- and Anthropic-format calls sent by any httpx / httpx2 client."""

    _state: InstrumentationState | None = None
    _wrapped: tuple[str, ...] = ()

    def instrumentation_dependencies(self) -> Collection[str]:
        return ()  # any one of _INSTRUMENTS_ANY: see _check_dependency_conflicts

    def _check_dependency_conflicts(self) -> DependencyConflict | None:
        return get_dependency_conflicts((), _INSTRUMENTS_ANY)

    def _instrument(self, **kwargs: Any) -> None:
        tracer = trace.get_tracer(
            __name__, __version__, kwargs.get("tracer_provider"), schema_url=_SCHEMA_URL
        )
        state = InstrumentationState()
        wrapped = []
        for library in LIBRARIES:
            if self._wrap(library, tracer, state):
                wrapped.append(library)
        self._state = state
        self._wrapped = tuple(wrapped)

    @staticmethod
    def _wrap(library: str, tracer: trace.Tracer, state: InstrumentationState) -> bool:
        try:
            module = importlib.import_module(library)
        except ImportError:
            return False  # not installed: nothing of it to record
        try:
            import wrapt

            wrapt.wrap_function_wrapper(module, "Client.send", send_wrapper(tracer, state, library))
            wrapt.wrap_function_wrapper(
                module, "AsyncClient.send", async_send_wrapper(tracer, state, library)
            )
            return True
        except Exception:
            # A broken instrumentation must not stop the agent (or opentelemetry-instrument).
            logger.warning("trajotel: could not instrument %s", library, exc_info=True)
            return False

    def _uninstrument(self, **kwargs: Any) -> None:
        if self._state is not None:
            self._state.active = False
            self._state = None
        for library in self._wrapped:
            try:
                module = importlib.import_module(library)
                unwrap(module.Client, "send")
                unwrap(module.AsyncClient, "send")
            except Exception:
                logger.warning("trajotel: could not uninstrument %s", library, exc_info=True)
        self._wrapped = ()
