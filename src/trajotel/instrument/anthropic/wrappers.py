"""The wrappers of ``Messages.create`` and ``AsyncMessages.create``: one ``chat {model}`` CLIENT
span per call, sync or async, streamed or not.

A streamed call (``stream=True``) returns the SDK's ``Stream`` / ``AsyncStream`` inside the
shared transparent proxy (``trajotel.instrument.streams``), fed to a ``MessageEventAccumulator``:
the span ends once, when the stream is exhausted, fails, is closed or leaves its ``with`` block,
carrying the assembled output message, stop reason, usage and time to first chunk.

The anthropic SDK (2.x) starts its own ``anthropic.messages.create`` span for every call when a
tracer provider exists; a trajectory needs exactly one turn per model call. While a wrapper runs,
a context variable tells ``suppress_sdk_span`` (wrapping the SDK's ``start_api_call_span``) to
return None, which the SDK documents as "the call goes on without a span". Only the calls that
trajotel records lose the SDK's span, and clients built before ``instrument()`` are covered too,
which the ``ANTHROPIC_OPEN_TELEMETRY`` variable (read at client construction) would not do.

Every instrumentation step runs through ``genai.safe_call``: the agent's call returns (or raises)
exactly what it would without instrumentation.
"""

from __future__ import annotations

import contextvars
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from opentelemetry.trace import Span, Tracer

from trajotel import semconv as sc
from trajotel.instrument import genai, streams
from trajotel.instrument.anthropic import content as ac
from trajotel.instrument.metrics import GenAIClientMetrics

PROVIDER_NAME = "anthropic"

# The SDK's span name of the calls trajotel records (create, and the stream helper it shares).
SDK_SPAN_NAME = "anthropic.messages.create"

# SDK parameters typed ``Iterable``: a generator must be read once, then handed on.
_ITERABLE_PARAMS = ("messages", "tools", "system")


class _Attempt:
    """Set in context while a trajotel wrapper makes its call.

    The SDK's own span for the call is suppressed, and ``sent`` tells whether the SDK got as far
    as starting an HTTP request: a call it rejects before that is no model call.
    """

    def __init__(self) -> None:
        self.sent = False


_recording: contextvars.ContextVar[_Attempt | None] = contextvars.ContextVar(
    "trajotel_anthropic_recording", default=None
)


class InstrumentationState:
    """Shared by an instrumentor and its wrappers; stale wrappers pass through once inactive."""

    def __init__(self) -> None:
        self.active = True
        # True once the SDK's span hook has reported a request: only then can "no request was
        # sent" be told apart from "this SDK has no hook".
        self.sees_requests = False


def suppress_sdk_span(state: InstrumentationState) -> Callable[..., Any]:
    """A wrapt wrapper for the SDK's ``start_api_call_span``: None for calls trajotel records."""

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]):
        attempt = _recording.get()
        if state.active and attempt is not None:
            options = args[2] if len(args) > 2 else kwargs.get("options")
            if getattr(options, "span_name", None) == SDK_SPAN_NAME:
                attempt.sent = True
                state.sees_requests = True
                return None
        return wrapped(*args, **kwargs)

    return wrapper


def messages_create(
    tracer: Tracer, state: InstrumentationState, metrics: GenAIClientMetrics | None = None
) -> Callable[..., Any]:
    """A wrapt wrapper for ``Messages.create`` (and ``parse``, which takes the same arguments)."""

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]):
        if not state.active:
            return wrapped(*args, **kwargs)
        kwargs = genai.readable_kwargs(kwargs, _ITERABLE_PARAMS)
        tools = _Tools(tracer, state, metrics)
        return _traced(tools, instance, kwargs, lambda: wrapped(*args, **kwargs))

    return wrapper


def async_messages_create(
    tracer: Tracer, state: InstrumentationState, metrics: GenAIClientMetrics | None = None
) -> Callable[..., Any]:
    """A wrapt wrapper for ``AsyncMessages.create`` / ``parse``: the same span as the sync one."""

    async def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ):
        if not state.active:
            return await wrapped(*args, **kwargs)
        kwargs = genai.readable_kwargs(kwargs, _ITERABLE_PARAMS)
        tools = _Tools(tracer, state, metrics)
        return await _traced_async(tools, instance, kwargs, lambda: wrapped(*args, **kwargs))

    return wrapper


# The private slot where the SDK's stream managers (``MessageStreamManager``,
# ``BetaAsyncMessageStreamManager``...) keep the request they make on ``__enter__``: a
# name-mangled ``__api_request``, so ``_<ClassName>__api_request``.
_MANAGER_REQUEST_SUFFIX = "__api_request"


def messages_stream(
    tracer: Tracer, state: InstrumentationState, metrics: GenAIClientMetrics | None = None
) -> Callable[..., Any]:
    """A wrapt wrapper for ``Messages.stream``: the span covers the request made on ``__enter__``.

    The helper posts without going through ``create``, so the manager's request is wrapped
    instead. A manager without the expected slot (another SDK version) is returned untouched.
    """

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]):
        manager = wrapped(*args, **kwargs)
        if state.active:
            genai.safe_call(_wrap_sync_manager, manager, _Tools(tracer, state, metrics), instance, kwargs)
        return manager

    return wrapper


def async_messages_stream(
    tracer: Tracer, state: InstrumentationState, metrics: GenAIClientMetrics | None = None
) -> Callable[..., Any]:
    """A wrapt wrapper for ``AsyncMessages.stream`` (not a coroutine: it returns a manager)."""

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]):
        manager = wrapped(*args, **kwargs)
        if state.active:
            genai.safe_call(_wrap_async_manager, manager, _Tools(tracer, state, metrics), instance, kwargs)
        return manager

    return wrapper


def _stream_kwargs(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    # The SDK already holds the caller's arguments: a one-shot iterable must not be read here.
    readable = {k: v for k, v in kwargs.items() if not (k in _ITERABLE_PARAMS and genai.is_one_shot(v))}
    return {**readable, "stream": True}


def _manager_request_slot(manager: Any) -> str | None:
    return next((name for name in vars(manager) if name.endswith(_MANAGER_REQUEST_SUFFIX)), None)


def _wrap_sync_manager(manager: Any, tools: _Tools, instance: Any, kwargs: Mapping[str, Any]) -> None:
    slot = _manager_request_slot(manager)
    original = getattr(manager, slot, None) if slot else None
    if slot is None or not callable(original):
        return  # another SDK version: left untouched
    call_kwargs = _stream_kwargs(kwargs)
    setattr(manager, slot, lambda: _traced(tools, instance, call_kwargs, original))


def _wrap_async_manager(manager: Any, tools: _Tools, instance: Any, kwargs: Mapping[str, Any]) -> None:
    slot = _manager_request_slot(manager)
    original = getattr(manager, slot, None) if slot else None
    if slot is None or not inspect.isawaitable(original):
        return
    call_kwargs = _stream_kwargs(kwargs)
    # The manager awaits this once, on ``__aenter__``, exactly as it would the original.
    setattr(manager, slot, _traced_async(tools, instance, call_kwargs, lambda: original))


class _Tools:
    """What a wrapper records with: the tracer, the instrumentor's state and its metrics."""

    def __init__(
        self, tracer: Tracer, state: InstrumentationState, metrics: GenAIClientMetrics | None
    ) -> None:
        self.tracer = tracer
        self.state = state
        self.metrics = metrics


def _traced(tools: _Tools, instance: Any, kwargs: Mapping[str, Any], make_call: Callable[[], Any]) -> Any:
    """Run ``make_call`` (the SDK request) inside a chat span; return or raise what it does."""
    call = genai.safe_call(_Call.start, tools, instance, kwargs)
    if call is None:
        return make_call()
    marker = _recording.set(call.attempt)
    try:
        result = genai.call_with_span(call, make_call)
    finally:
        _recording.reset(marker)
    return call.finish(result)


async def _traced_async(
    tools: _Tools, instance: Any, kwargs: Mapping[str, Any], make_call: Callable[[], Awaitable[Any]]
) -> Any:
    """The async ``_traced``: the context is set and reset in this coroutine, around the call."""
    call = genai.safe_call(_Call.start, tools, instance, kwargs)
    if call is None:
        return await make_call()
    marker = _recording.set(call.attempt)
    try:
        result = await genai.await_with_span(call, make_call)
    finally:
        _recording.reset(marker)
    return call.finish(result)


class _Call:
    """One instrumented ``create`` call: its span and what is needed to finish it."""

    def __init__(
        self,
        span: Span,
        capture: genai.ContentCapture,
        streaming: bool,
        tools: _Tools,
        metric_attributes: Mapping[str, Any],
    ) -> None:
        self.span = span
        self.capture = capture
        self.streaming = streaming
        self.tools = tools
        # Kept apart from the span: metrics are recorded even when the span is not sampled.
        self.metric_attributes = dict(metric_attributes)
        self.attempt = _Attempt()
        self.started = time.perf_counter()  # time to first chunk counts from the request

    @classmethod
    def start(cls, tools: _Tools, instance: Any, kwargs: Mapping[str, Any]) -> _Call:
        capture = genai.safe_call(genai.content_capture_mode, default=genai.ContentCapture.NO_CONTENT)
        capture = capture or genai.ContentCapture.NO_CONTENT
        streaming = bool(kwargs.get("stream"))  # the SDK's "omit" sentinel is falsy
        span, attributes, capture = _start_span(tools.tracer, instance, kwargs, capture)
        return cls(span, capture, streaming, tools, attributes)

    def finish(self, result: Any) -> Any:
        """End the span now, or hand it to a stream proxy that ends it; return what to return."""
        if self.streaming:
            proxy = genai.safe_call(self._stream_proxy, result)
            if proxy is not None:
                return proxy
            # Not a stream object (``with_raw_response``...): its body is the caller's to read.
            genai.safe_call(self.record_metrics, None, None)
            genai.safe_call(self.span.end)
            return result
        message = _message_view(result)
        genai.safe_call(self.record_metrics, message, None)
        genai.safe_call(_end_with_result, self.span, message, self.capture)
        return result

    def fail(self, exc: BaseException) -> None:
        if self.tools.state.sees_requests and not self.attempt.sent:
            # Rejected by the SDK before any request (e.g. "Streaming is required" for a large
            # max_tokens): no model call happened. The span is dropped by never ending it (an
            # unended SDK span is never exported), so no turn is recorded for it.
            return
        genai.safe_call(self.record_metrics, None, exc)
        genai.safe_call(_end_with_error, self.span, exc)

    def record_metrics(self, message: Any, exc: BaseException | None) -> None:
        metrics = self.tools.metrics
        if metrics is None or not metrics.enabled:
            return
        attributes = dict(self.metric_attributes)
        response_model = genai.field(message, "model")
        if isinstance(response_model, str):
            attributes[sc.GEN_AI_RESPONSE_MODEL] = response_model
        usage = genai.field(message, "usage")
        metrics.record(
            time.perf_counter() - self.started,
            attributes,
            error_type=error_type(exc) if exc is not None else None,
            tokens=ac.usage_attributes(usage) if usage is not None else None,
        )

    def _stream_proxy(self, result: Any) -> Any:
        import anthropic  # loaded already: it just returned ``result``

        if isinstance(result, anthropic.AsyncStream):
            proxy_class: type[Any] = streams.AsyncStreamProxy
        elif isinstance(result, anthropic.Stream):
            proxy_class = streams.SyncStreamProxy
        else:
            return None
        capture = self.capture
        finished: list[dict[str, Any]] = []  # the assembled message, for the metrics

        def on_finish(span: Span, message: dict[str, Any]) -> None:
            finished.append(message)
            genai.safe_call(set_response_attributes, span, message)
            if capture.wanted and message.get("content"):
                genai.safe_call(set_output_content, span, message)

        def on_end(exc: BaseException | None) -> None:
            self.record_metrics(finished[0] if finished else None, exc)

        accumulator = ac.MessageEventAccumulator(on_finish, keep_content=capture.wanted)
        stream_span = streams.StreamSpan(self.span, accumulator, self.started, _record_error, on_end)
        return proxy_class(result, stream_span)


def request_attributes(instance: Any, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Server and request-parameter attributes of a ``messages.create`` call."""
    params = {key: value for key, value in kwargs.items() if genai.is_given(value)}
    extra = params.get("extra_body")
    if isinstance(extra, Mapping):
        # anthropic 2.x dropped temperature/top_p/top_k from create()'s signature: callers send
        # them in extra_body, which also wins over the named parameters in the request body.
        params.update({key: value for key, value in extra.items() if genai.is_given(value)})
    stop = params.get("stop_sequences")
    return {
        **genai.client_server_attributes(genai.client_base_url(instance)),
        sc.GEN_AI_REQUEST_MAX_TOKENS: genai.number(params.get("max_tokens")),
        sc.GEN_AI_REQUEST_TEMPERATURE: genai.number(params.get("temperature")),
        sc.GEN_AI_REQUEST_TOP_P: genai.number(params.get("top_p")),
        ac.GEN_AI_REQUEST_TOP_K: genai.number(params.get("top_k")),
        sc.GEN_AI_REQUEST_STOP_SEQUENCES: list(stop) if isinstance(stop, (list, tuple)) else stop,
    }


def _start_span(
    tracer: Tracer, instance: Any, kwargs: Mapping[str, Any], capture: genai.ContentCapture
) -> tuple[Span, dict[str, Any], genai.ContentCapture]:
    model = kwargs.get("model")
    attributes = {
        sc.GEN_AI_OPERATION_NAME: sc.OP_CHAT,
        sc.GEN_AI_PROVIDER_NAME: PROVIDER_NAME,
        sc.GEN_AI_REQUEST_MODEL: model if isinstance(model, str) else None,
    }
    attributes.update(genai.safe_call(request_attributes, instance, kwargs, default={}) or {})
    span, capture = genai.start_client_span(tracer, genai.span_name(sc.OP_CHAT, model), attributes, capture)
    # From here on every step is guarded: the span exists and must reach span.end().
    if capture.wanted:
        genai.safe_call(set_input_content, span, kwargs)
    return span, attributes, capture


def set_input_content(span: Span, kwargs: Mapping[str, Any]) -> None:
    content: dict[str, Any] = {"input_messages": ac.input_messages(kwargs.get("messages"))}
    system = ac.system_instructions(kwargs.get("system"))
    if system:
        content["system_instructions"] = system
    if genai.is_given(kwargs.get("tools")):
        content["tool_definitions"] = ac.tool_definitions(kwargs.get("tools"))
    genai.record_content(span, content)


def error_type(exc: BaseException) -> str:
    """``error.type``: the HTTP status ("429", "529", ...) or the exception's class name."""
    status = getattr(exc, "status_code", None)
    return str(status) if isinstance(status, int) else type(exc).__qualname__


def _record_error(span: Span, exc: BaseException) -> None:
    genai.record_error(span, exc, error_type(exc))


def _end_with_error(span: Span, exc: BaseException) -> None:
    try:
        _record_error(span, exc)
    finally:
        span.end()


def _message_view(result: Any) -> Any:
    """The ``Message`` to read; a ``with_raw_response`` result is left unread (None).

    Tested by ``type``: a raw response has a ``content`` too (its body's bytes).
    """
    return result if genai.field(result, "type") == "message" else None


def _end_with_result(span: Span, message: Any, capture: genai.ContentCapture) -> None:
    try:
        if message is not None:
            genai.safe_call(set_response_attributes, span, message)
            if capture.wanted:
                genai.safe_call(set_output_content, span, message)
    finally:
        span.end()


def set_response_attributes(span: Span, message: Any) -> None:
    stop_reason = genai.field(message, "stop_reason")
    attributes: dict[str, Any] = {
        sc.GEN_AI_RESPONSE_ID: genai.field(message, "id"),
        sc.GEN_AI_RESPONSE_MODEL: genai.field(message, "model"),
        sc.GEN_AI_RESPONSE_FINISH_REASONS: [ac.map_stop_reason(stop_reason)],
        **ac.usage_attributes(genai.field(message, "usage")),
    }
    genai.set_attributes(span, attributes)


def set_output_content(span: Span, message: Any) -> None:
    genai.record_content(span, {"output_messages": ac.output_messages(message)})
