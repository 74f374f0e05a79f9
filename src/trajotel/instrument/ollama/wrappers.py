"""The wrappers of ``Client.chat`` and ``AsyncClient.chat``: one ``chat {model}`` CLIENT span per
call, current during the HTTP request only.

A streamed call (``stream=True``) returns a generator of ``ChatResponse`` chunks (an async
generator for ``AsyncClient``); it is handed back inside a transparent proxy
(``trajotel.instrument.streams``) that records as the caller reads and ends the span once, on
exhaustion, an error, ``close()`` / ``aclose()`` or garbage collection.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.trace import Span, Tracer

from trajotel import semconv as sc
from trajotel.instrument import genai, streams
from trajotel.instrument.ollama import content as oc

PROVIDER_NAME = "ollama"  # not one of the conventions' well-known values: Ollama's own name

# ``chat``'s positional parameters, in order.
_POSITIONAL = ("model", "messages")


class InstrumentationState:
    """Shared by an instrumentor and its wrappers; stale wrappers pass through once inactive."""

    def __init__(self) -> None:
        self.active = True


def chat(tracer: Tracer, state: InstrumentationState) -> Callable[..., Any]:
    """A wrapt wrapper for ``Client.chat``."""

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]):
        if not state.active:
            return wrapped(*args, **kwargs)
        call = genai.safe_call(_Call.start, tracer, instance, _arguments(args, kwargs))
        if call is None:
            return wrapped(*args, **kwargs)
        result = genai.call_with_span(call, lambda: wrapped(*args, **kwargs))
        return call.finish(result, streams.SyncStreamProxy)

    return wrapper


def async_chat(tracer: Tracer, state: InstrumentationState) -> Callable[..., Any]:
    """A wrapt wrapper for ``AsyncClient.chat``: the same span as the sync wrapper."""

    async def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ):
        if not state.active:
            return await wrapped(*args, **kwargs)
        call = genai.safe_call(_Call.start, tracer, instance, _arguments(args, kwargs))
        if call is None:
            return await wrapped(*args, **kwargs)
        result = await genai.await_with_span(call, lambda: wrapped(*args, **kwargs))
        return call.finish(result, AsyncGeneratorProxy)

    return wrapper


class AsyncGeneratorProxy(streams.AsyncStreamProxy):
    """``AsyncStreamProxy`` for an async generator, which closes with ``aclose()`` (no ``close``)."""

    async def aclose(self) -> None:
        try:
            await self.__wrapped__.aclose()
        finally:
            self._self_stream_span.end()


def _arguments(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    return {**dict(zip(_POSITIONAL, args, strict=False)), **kwargs}


class _Call:
    def __init__(self, span: Span, capture: genai.ContentCapture, streaming: bool) -> None:
        self.span = span
        self.capture = capture
        self.streaming = streaming
        self.started = time.perf_counter()

    @classmethod
    def start(cls, tracer: Tracer, instance: Any, arguments: Mapping[str, Any]) -> _Call:
        capture = genai.safe_call(genai.content_capture_mode, default=genai.ContentCapture.NO_CONTENT)
        capture = capture or genai.ContentCapture.NO_CONTENT
        streaming = arguments.get("stream") is True
        model = arguments.get("model")
        attributes: dict[str, Any] = {
            sc.GEN_AI_OPERATION_NAME: sc.OP_CHAT,
            sc.GEN_AI_PROVIDER_NAME: PROVIDER_NAME,
            sc.GEN_AI_REQUEST_MODEL: model if isinstance(model, str) and model else None,
            sc.GEN_AI_REQUEST_STREAM: True if streaming else None,
        }
        base_url = genai.safe_call(genai.client_base_url, instance)
        attributes.update(genai.safe_call(genai.client_server_attributes, base_url, default={}) or {})
        attributes.update(genai.safe_call(oc.request_attributes, arguments, default={}) or {})
        span, capture = genai.start_client_span(
            tracer, genai.span_name(sc.OP_CHAT, model), attributes, capture
        )
        # From here on every step is guarded: the span exists and must reach span.end().
        if capture.wanted:
            genai.safe_call(_record_input, span, arguments)
        return cls(span, capture, streaming)

    def finish(self, result: Any, proxy_class: type[Any]) -> Any:
        if self.streaming:
            proxy = genai.safe_call(self._stream_proxy, result, proxy_class)
            if proxy is not None:
                return proxy
            genai.safe_call(self.span.end)
            return result
        try:
            genai.safe_call(_record_response, self.span, result, self.capture)
        finally:
            genai.safe_call(self.span.end)
        return result

    def fail(self, exc: BaseException) -> None:
        try:
            genai.safe_call(genai.record_error, self.span, exc, _error_type(exc))
        finally:
            genai.safe_call(self.span.end)

    def _stream_proxy(self, result: Any, proxy_class: type[Any]) -> Any:
        capture = self.capture

        def on_finish(span: Span, response: dict[str, Any]) -> None:
            _record_response(span, response, capture)

        accumulator = oc.ChatChunkAccumulator(on_finish, keep_content=capture.wanted)
        return proxy_class(result, streams.StreamSpan(self.span, accumulator, self.started))


def _record_input(span: Span, arguments: Mapping[str, Any]) -> None:
    content: dict[str, Any] = {"input_messages": oc.input_messages(arguments.get("messages"))}
    if arguments.get("tools"):
        content["tool_definitions"] = oc.tool_definitions(arguments.get("tools"))
    genai.record_content(span, content)


def _record_response(span: Span, response: Any, capture: genai.ContentCapture) -> None:
    genai.safe_call(genai.set_attributes, span, oc.response_attributes(response))
    if capture.wanted:
        genai.safe_call(genai.record_content, span, {"output_messages": oc.output_messages(response)})


def _error_type(exc: BaseException) -> str:
    """The HTTP status of an ``ollama.ResponseError`` ("404", "500"...), else the class name."""
    status = getattr(exc, "status_code", None)
    return str(status) if isinstance(status, int) and status > 0 else type(exc).__qualname__
