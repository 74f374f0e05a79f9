"""The call machinery every instrumented openai endpoint shares: one CLIENT span per call.

An endpoint (``chat.py``, ``responses.py``, ``embeddings.py``, ``completions.py``) describes
itself as an ``Api``: its operation, its request attributes and input content, how to read its
response, and how to assemble its stream. ``sync_wrapper`` / ``async_wrapper`` turn an ``Api``
into wrapt wrappers of the SDK methods, and ``_Call`` runs one call:

* a plain result ends the span at once, with the response's attributes and content;
* a streamed result (``Stream`` / ``AsyncStream``) is returned inside a transparent proxy
  (``trajotel.instrument.streams``) that records as the caller reads, and ends the span once
  (exhausted, failed, closed, left its ``with`` block, or garbage collected);
* a raw result whose body is still unread (``with_streaming_response``, or a streamed call
  through ``with_raw_response``) is returned inside a body proxy (``bodies.py``) that records
  when the caller parses or reads it, and ends the span at the latest on ``close()`` (which the
  SDK's context manager calls on exit) or garbage collection.

The span is current only during the HTTP request. Metrics (``GenAIClientMetrics``) record one
duration and the token usage of each call, when its span ends. Every instrumentation step runs
through ``genai.safe_call``: the agent's call returns (or raises) exactly what it would without
instrumentation.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.trace import Span, Tracer

from trajotel import semconv as sc
from trajotel.instrument import genai, streams
from trajotel.instrument.metrics import GenAIClientMetrics
from trajotel.instrument.openai import provider


class InstrumentationState:
    """Shared by an instrumentor and its wrappers; stale wrappers pass through once inactive.

    ``with_raw_response`` binds ``create`` when first accessed, so an SDK object can keep a
    wrapper alive after ``uninstrument()``; the flag makes that wrapper inert.
    """

    def __init__(self) -> None:
        self.active = True


class Api:
    """What one openai endpoint records; subclasses override what their endpoint has."""

    operation = sc.OP_CHAT
    # SDK parameters whose type is ``Iterable``: a generator must be read once, then handed on.
    iterable_params: tuple[str, ...] = ()

    def request_attributes(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """Request-parameter attributes, set at the span's start."""
        return {}

    def input_content(self, kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
        """Request content for ``genai.record_content`` (only when content is captured)."""
        return None

    def response_attributes(self, response: Any) -> dict[str, Any]:
        """Response attributes (id, model, finish reasons, usage...)."""
        return {}

    def output_content(self, response: Any) -> dict[str, Any] | None:
        """Response content for ``genai.record_content`` (only when content is captured)."""
        return None

    def record_extras(self, span: Span, response: Any, capture: genai.ContentCapture) -> None:
        """Anything else the endpoint records from a response (per-token output...)."""

    def accumulator(
        self, on_finish: Callable[[Span, Any], None], keep_content: bool
    ) -> streams.ChunkAccumulator | None:
        """What assembles a stream of this endpoint into a response; None: not streamable."""
        return None


def sync_wrapper(
    tracer: Tracer, state: InstrumentationState, api: Api, metrics: GenAIClientMetrics | None = None
) -> Callable[..., Any]:
    """A wrapt wrapper of a synchronous SDK method that records its calls as ``api``."""

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]):
        if not state.active:
            return wrapped(*args, **kwargs)
        kwargs = genai.readable_kwargs(kwargs, api.iterable_params)
        call = genai.safe_call(_Call.start, tracer, api, instance, kwargs, metrics)
        if call is None:
            return wrapped(*args, **kwargs)
        result = genai.call_with_span(call, lambda: wrapped(*args, **kwargs))
        return call.finish(result)

    return wrapper


def async_wrapper(
    tracer: Tracer, state: InstrumentationState, api: Api, metrics: GenAIClientMetrics | None = None
) -> Callable[..., Any]:
    """A wrapt wrapper of an ``async`` SDK method: the same span as ``sync_wrapper``."""

    async def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ):
        if not state.active:
            return await wrapped(*args, **kwargs)
        kwargs = genai.readable_kwargs(kwargs, api.iterable_params)
        call = genai.safe_call(_Call.start, tracer, api, instance, kwargs, metrics)
        if call is None:
            return await wrapped(*args, **kwargs)
        result = await genai.await_with_span(call, lambda: wrapped(*args, **kwargs))
        return call.finish(result)

    return wrapper


class _Call:
    """One instrumented call: its span, and the one place that ends it (exactly once)."""

    def __init__(
        self,
        api: Api,
        span: Span,
        capture: genai.ContentCapture,
        streaming: bool,
        metrics: GenAIClientMetrics | None = None,
        metric_attributes: Mapping[str, Any] | None = None,
    ) -> None:
        self.api = api
        self.span = span
        self.capture = capture
        self.streaming = streaming
        self.metrics = metrics
        # Kept apart from the span: metrics are recorded even when the span is not sampled.
        self.metric_attributes = dict(metric_attributes or {})
        # time_to_first_chunk and the operation duration count from here: the request is about
        # to be sent.
        self.started = time.perf_counter()
        self._lock = threading.Lock()  # a finalizer may end the call from any thread
        self._claimed = False

    @classmethod
    def start(
        cls,
        tracer: Tracer,
        api: Api,
        instance: Any,
        kwargs: Mapping[str, Any],
        metrics: GenAIClientMetrics | None = None,
    ) -> _Call:
        capture = genai.safe_call(genai.content_capture_mode, default=genai.ContentCapture.NO_CONTENT)
        capture = capture or genai.ContentCapture.NO_CONTENT
        # The SDK itself tests ``stream or False``; its "omit" sentinel is falsy.
        streaming = bool(kwargs.get("stream"))
        attributes = _base_attributes(api, instance, kwargs)
        span, capture = _start_span(tracer, api, kwargs, capture, attributes)
        return cls(api, span, capture, streaming, metrics, attributes)

    def _claim(self) -> bool:
        """True for the first caller only: whoever gets it ends the span (or hands it on)."""
        with self._lock:
            if self._claimed:
                return False
            self._claimed = True
            return True

    def finish(self, result: Any) -> Any:
        """End the span now, or hand it to a proxy that ends it; return what to return."""
        if self.streaming:
            proxy = genai.safe_call(self.stream_proxy, result)
            if proxy is not None:
                return proxy
        if genai.safe_call(_is_unread_body, result, self.streaming, default=False):
            from trajotel.instrument.openai import bodies

            proxy = genai.safe_call(bodies.body_proxy, result, self)
            if proxy is not None:
                return proxy
        self.end(genai.safe_call(response_view, result))
        return result

    def end(self, response: Any) -> None:
        """Record ``response`` (None: nothing to record) and end the span, once."""
        if not self._claim():
            return
        try:
            genai.safe_call(self.record_metrics, response, None)
            if response is not None:
                genai.safe_call(self.record_response, self.span, response)
        finally:
            genai.safe_call(self.span.end)

    def fail(self, exc: BaseException) -> None:
        """The call raised: record the failure (span and duration metric) and end the span."""
        if not self._claim():
            return
        try:
            genai.safe_call(self.record_metrics, None, exc)
            genai.safe_call(record_error, self.span, exc)
        finally:
            genai.safe_call(self.span.end)

    def record_response(self, span: Span, response: Any) -> None:
        recording = span.is_recording()  # a sampled-out span: only an event may want content
        # Response attributes and output content are set in one call (one SDK lock and
        # validation pass); each part is guarded on its own, so a failing one loses only itself.
        attributes: dict[str, Any] = {}
        if recording:
            genai.safe_call(_add_response_attributes, self.api, response, attributes)
        if self.capture.on_event and attributes:  # the content event copies the span's attributes
            genai.safe_call(genai.set_attributes, span, attributes)
            attributes = {}
        if self.capture.wanted:
            genai.safe_call(_add_output_content, self.api, span, response, self.capture, attributes)
        if attributes:
            genai.safe_call(genai.set_attributes, span, attributes)
        if recording:
            genai.safe_call(self.api.record_extras, span, response, self.capture)

    def record_metrics(self, response: Any, exc: BaseException | None) -> None:
        if self.metrics is None or not self.metrics.enabled:
            return
        attributes = dict(self.metric_attributes)
        response_model = genai.field(response, "model")
        if isinstance(response_model, str):
            attributes[sc.GEN_AI_RESPONSE_MODEL] = response_model
        self.metrics.record(
            time.perf_counter() - self.started,
            attributes,
            genai.field(response, "usage"),
            error_type(exc) if exc is not None else None,
        )

    def stream_proxy(self, result: Any) -> Any:
        """``result`` inside a stream proxy that owns the span from now on; None if not a stream."""
        import openai  # loaded already: it just returned ``result``

        if isinstance(result, openai.AsyncStream):
            proxy_class: type[Any] = streams.AsyncStreamProxy
        elif isinstance(result, openai.Stream):
            proxy_class = streams.SyncStreamProxy
        else:
            return None
        finished: list[Any] = []  # the assembled response, for the metrics

        def on_finish(span: Span, response: Any) -> None:
            finished.append(response)
            self.record_response(span, response)

        def on_end(exc: BaseException | None) -> None:
            self.record_metrics(finished[0] if finished else None, exc)

        accumulator = self.api.accumulator(on_finish, self.capture.wanted)
        if accumulator is None or not self._claim():
            return None
        stream_span = streams.StreamSpan(self.span, accumulator, self.started, record_error, on_end)
        return proxy_class(result, stream_span)


def _is_unread_body(result: Any, streaming: bool) -> bool:
    """A raw response whose body the caller has yet to read."""
    raw_response, legacy_response = _raw_response_types()
    if isinstance(result, raw_response):  # ``with_streaming_response``: never read yet
        return True
    # ``with_raw_response`` reads a plain body before returning; a stream's is read on parse().
    return streaming and isinstance(result, legacy_response)


@functools.cache
def _raw_response_types() -> tuple[type, type]:
    # Imported on first use (the SDK is loaded by then), not on every call: this is per call.
    from openai._legacy_response import LegacyAPIResponse
    from openai._response import BaseAPIResponse

    return BaseAPIResponse, LegacyAPIResponse


def _base_attributes(api: Api, instance: Any, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Operation, provider, request model and server: what both the span and the metrics carry
    (and what sampling may look at). Each part guarded on its own: a failing one loses only its
    own attributes.
    """
    model = kwargs.get("model")
    client = genai.safe_call(provider.client_attributes, instance) or {}
    attributes = {
        sc.GEN_AI_OPERATION_NAME: api.operation,
        sc.GEN_AI_PROVIDER_NAME: client.get(sc.GEN_AI_PROVIDER_NAME) or provider.OPENAI,
        sc.GEN_AI_REQUEST_MODEL: model if isinstance(model, str) else None,
    }
    attributes.update(client)  # server.* (the provider is in place already)
    return attributes


def _start_span(
    tracer: Tracer,
    api: Api,
    kwargs: Mapping[str, Any],
    capture: genai.ContentCapture,
    base_attributes: Mapping[str, Any],
) -> tuple[Span, genai.ContentCapture]:
    attributes = dict(base_attributes)
    if kwargs.get("stream"):
        attributes[sc.GEN_AI_REQUEST_STREAM] = True
    attributes.update(genai.safe_call(api.request_attributes, kwargs, default={}) or {})
    name = genai.span_name(api.operation, kwargs.get("model"))
    span, capture = genai.start_client_span(tracer, name, attributes, capture)
    # From here on every step is guarded: the span exists and must reach span.end().
    if capture.wanted:
        genai.safe_call(_set_input_content, api, span, kwargs, capture)
    return span, capture


def _set_input_content(
    api: Api, span: Span, kwargs: Mapping[str, Any], capture: genai.ContentCapture
) -> None:
    content = api.input_content(kwargs)
    if content:
        genai.record_content(span, content, capture)


def _add_response_attributes(api: Api, response: Any, attributes: dict[str, Any]) -> None:
    attributes.update(api.response_attributes(response))


def _add_output_content(
    api: Api, span: Span, response: Any, capture: genai.ContentCapture, attributes: dict[str, Any]
) -> None:
    content = api.output_content(response)
    if content:
        genai.record_content(span, content, capture, span_attributes=attributes)


def response_view(result: Any) -> Any:
    """Something to read the response from: the parsed object, or a raw response's JSON.

    ``with_raw_response`` returns a LegacyAPIResponse whose body the SDK has already read; its
    bytes are decoded here without touching the parse cache the caller will use.
    """
    http_response = genai.field(result, "http_response")  # getattr would raise inside pydantic
    if http_response is None:
        return result
    payload = json.loads(http_response.content)  # raises if unread: nothing to record then
    return payload if isinstance(payload, dict) else None


def error_type(exc: BaseException) -> str:
    """``error.type`` of a failed call: the HTTP status ("429", "500", ...) or the class name."""
    import openai  # the SDK is loaded already: the exception came from it

    status = getattr(exc, "status_code", None) if isinstance(exc, openai.APIStatusError) else None
    return str(status) if status is not None else type(exc).__qualname__


def record_error(span: Span, exc: BaseException) -> None:
    genai.record_error(span, exc, error_type(exc))
