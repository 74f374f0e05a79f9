"""The wrappers of ``Client.send`` / ``AsyncClient.send`` (httpx and httpx2): one span per LLM call.

``send`` is where every request of a client passes (``post``, ``request``, ``stream`` and the
SDKs all end there), once per attempt, after the client has built the final request. A request
is recorded when it is a POST to an API of ``trajotel.instrument.http.apis`` with a JSON body
the client has already encoded, and no LLM span is current (see ``llm_span_is_current``).

The span is current during ``send`` only, so HTTP-level spans nest under it. What happens next
depends on the response:

* a body ``send`` has read already (``stream=False``, the default of ``post``): recorded from
  the bytes and the span ends before ``send`` returns;
* an unread body (``stream=True``: SDK streams, ``client.stream(...)``): the response's byte
  stream is replaced by a transparent proxy that hands each chunk to a ``StreamSpan`` as the
  caller reads it (SSE events, or one JSON document), and ends the span once on exhaustion, an
  error while reading, ``close()`` or garbage collection. The caller reads the same bytes in the
  same chunks and sees the same exceptions;
* an HTTP error status: the span ends at once with ``error.type`` = the status code; an unread
  error body stays unread.
"""

from __future__ import annotations

import json
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import wrapt
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode, Tracer

from trajotel import semconv as sc
from trajotel.instrument import genai, streams
from trajotel.instrument.http import body as bodies
from trajotel.instrument.http.apis import HttpApi, api_for, provider_name


class InstrumentationState:
    """Shared by an instrumentor and its wrappers; stale wrappers pass through once inactive."""

    def __init__(self) -> None:
        self.active = True


def llm_span_is_current() -> bool:
    """Whether the current span is another instrumentation's LLM call (then it records the call).

    Decided by attributes set at span start, not by names: ``gen_ai.operation.name`` of an
    inference or embeddings operation (trajotel's SDK instrumentors, OpenLLMetry, the official
    openai-v2, the anthropic SDK's own span, pydantic-ai...), OpenInference's LLM/EMBEDDING span
    kind, or OpenLLMetry's legacy ``llm.request.type``. A span without readable attributes (not
    sampled) is no evidence: then the catch-all's own span is not sampled either.
    """
    attributes = getattr(trace.get_current_span(), "attributes", None)
    if not isinstance(attributes, Mapping):
        return False
    operation = attributes.get(sc.GEN_AI_OPERATION_NAME)
    return (
        operation in sc.INFERENCE_OPERATIONS
        or operation == sc.OP_EMBEDDINGS
        or attributes.get(sc.OPENINFERENCE_SPAN_KIND) in sc.OPENINFERENCE_MODEL_SPAN_KINDS
        or sc.OPENLLMETRY_REQUEST_TYPE in attributes
    )


def send_wrapper(tracer: Tracer, state: InstrumentationState, library: str) -> Callable[..., Any]:
    """A wrapt wrapper for ``<library>.Client.send``."""

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]):
        if not state.active:
            return wrapped(*args, **kwargs)
        call = genai.safe_call(HttpCall.start, tracer, _request_of(args, kwargs), library)
        if call is None:
            return wrapped(*args, **kwargs)
        response = genai.call_with_span(call, lambda: wrapped(*args, **kwargs))
        genai.safe_call(call.finish, response, SyncByteStreamProxy)
        return response

    return wrapper


def async_send_wrapper(tracer: Tracer, state: InstrumentationState, library: str) -> Callable[..., Any]:
    """A wrapt wrapper for ``<library>.AsyncClient.send``: the same span as the sync wrapper."""

    async def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ):
        if not state.active:
            return await wrapped(*args, **kwargs)
        call = genai.safe_call(HttpCall.start, tracer, _request_of(args, kwargs), library)
        if call is None:
            return await wrapped(*args, **kwargs)
        response = await genai.await_with_span(call, lambda: wrapped(*args, **kwargs))
        genai.safe_call(call.finish, response, AsyncByteStreamProxy)
        return response

    return wrapper


def _request_of(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    return args[0] if args else kwargs.get("request")


def _request_body(request: Any) -> Any:
    """The request's JSON body, or None: a streamed request body is never read here."""
    try:
        # Raises (RequestNotRead) for a body the client streams: it is not ours to read.
        content = request.content
    except Exception:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return None


class HttpCall:
    """One recorded HTTP request: its API, its span, and what is needed to finish it."""

    def __init__(self, api: HttpApi, span: Span, capture: genai.ContentCapture, library: str) -> None:
        self.api = api
        self.span = span
        self.capture = capture
        self.library = library
        self.started = time.perf_counter()

    @classmethod
    def start(cls, tracer: Tracer, request: Any, library: str) -> HttpCall | None:
        api = api_for(str(request.method), str(request.url.path))
        if api is None or llm_span_is_current():
            return None
        body = _request_body(request)
        if not isinstance(body, dict):
            return None
        capture = genai.safe_call(genai.content_capture_mode, default=genai.ContentCapture.NO_CONTENT)
        capture = capture or genai.ContentCapture.NO_CONTENT
        model = body.get("model")
        attributes: dict[str, Any] = {
            sc.GEN_AI_OPERATION_NAME: api.operation,
            sc.GEN_AI_PROVIDER_NAME: provider_name(api, request.url.host),
            sc.GEN_AI_REQUEST_MODEL: model if isinstance(model, str) else None,
            sc.GEN_AI_REQUEST_STREAM: True if body.get("stream") is True else None,
        }
        attributes.update(genai.safe_call(genai.server_attributes, request.url, default={}) or {})
        attributes.update(genai.safe_call(api.request_attributes, body, default={}) or {})
        name = genai.span_name(api.operation, model)
        span, capture = genai.start_client_span(tracer, name, attributes, capture)
        # From here on every step is guarded: the span exists and must reach span.end().
        if capture.wanted:
            genai.safe_call(api.record_input, span, body)
        return cls(api, span, capture, library)

    def fail(self, exc: BaseException) -> None:
        """``send`` raised (connection error, timeout...): record it and end the span."""
        genai.safe_call(genai.record_error, self.span, exc)
        genai.safe_call(self.span.end)

    def finish(self, response: Any, proxy_class: type[Any]) -> None:
        """Record a read body now, or hand the unread one to a byte-stream proxy."""
        status = getattr(response, "status_code", 0)
        if isinstance(status, int) and status >= 400:
            self._end_with_status(status)
            return
        accumulator = self._accumulator(response)
        if response.is_stream_consumed:  # read by ``send`` already (``stream=False``)
            try:
                if accumulator is not None:
                    genai.safe_call(accumulator.add, response.content)
                    genai.safe_call(accumulator.finish, self.span)
            finally:
                self.span.end()
            return
        if accumulator is None:
            self.span.end()  # a streamed body of a kind not recorded: nothing to wait for
            return
        stream_span = streams.StreamSpan(self.span, accumulator, self.started)
        response.stream = proxy_class(response.stream, stream_span)

    def _end_with_status(self, status: int) -> None:
        try:
            self.span.set_attribute(sc.ERROR_TYPE, str(status))
            self.span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))
        finally:
            self.span.end()

    def _accumulator(self, response: Any) -> streams.ChunkAccumulator | None:
        """What reads the body's raw bytes: SSE events or one JSON document (None: neither)."""
        headers = response.headers
        decoder = bodies.ContentDecoder(self.library, headers.get("content-encoding", ""))
        capture = self.capture

        def on_finish(span: Span, payload: Any) -> None:
            self.api.record_response(span, payload, capture)

        content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type == "text/event-stream":
            events = self.api.accumulator(on_finish, capture.wanted)
            return None if events is None else bodies.EventStreamAccumulator(events, decoder)
        if content_type == "application/json" or content_type.endswith("+json"):
            return bodies.JsonBodyAccumulator(on_finish, decoder)
        return None


def _end_abandoned(stream_span: streams.StreamSpan) -> None:
    # Runs from the garbage collector or at interpreter exit: must never raise.
    genai.safe_call(stream_span.end)


class SyncByteStreamProxy(wrapt.ObjectProxy):  # type: ignore[misc]
    """A response's byte stream that reports each chunk to a ``StreamSpan`` as it is read.

    ``isinstance`` still sees the library's stream class (the response checks it), and every
    other attribute (``elapsed``...) is the wrapped stream's.
    """

    def __init__(self, wrapped: Any, stream_span: streams.StreamSpan) -> None:
        super().__init__(wrapped)
        # ``_self_`` attributes stay on the proxy; any other name would be set on the stream.
        self._self_stream_span = stream_span
        self._self_finalizer = weakref.finalize(self, _end_abandoned, stream_span)

    def __iter__(self) -> Any:
        stream_span = self._self_stream_span
        try:
            for chunk in self.__wrapped__:
                stream_span.chunk(chunk)
                yield chunk
        except GeneratorExit:
            stream_span.end()  # the reader stopped early: no error of the call
            raise
        except BaseException as exc:
            stream_span.end(exc)
            raise
        stream_span.end()

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            self._self_stream_span.end()


class AsyncByteStreamProxy(wrapt.ObjectProxy):  # type: ignore[misc]
    """The asynchronous ``SyncByteStreamProxy``."""

    def __init__(self, wrapped: Any, stream_span: streams.StreamSpan) -> None:
        super().__init__(wrapped)
        self._self_stream_span = stream_span
        self._self_finalizer = weakref.finalize(self, _end_abandoned, stream_span)

    async def __aiter__(self) -> Any:
        stream_span = self._self_stream_span
        try:
            async for chunk in self.__wrapped__:
                stream_span.chunk(chunk)
                yield chunk
        except GeneratorExit:
            stream_span.end()
            raise
        except BaseException as exc:
            stream_span.end(exc)
            raise
        stream_span.end()

    async def aclose(self) -> None:
        try:
            await self.__wrapped__.aclose()
        finally:
            self._self_stream_span.end()
