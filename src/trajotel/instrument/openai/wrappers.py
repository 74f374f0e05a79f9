"""The wrappers of ``Completions.create`` and ``AsyncCompletions.create``: one ``chat {model}``
CLIENT span per call, sync or async, streamed or not (both share the same span code).

A streamed call (``stream=True``) returns the SDK's ``Stream`` / ``AsyncStream`` inside a
transparent proxy (``trajotel.instrument.streams``) that records into the call's span as the
caller reads: the assembled output of each choice (text, reasoning, tool calls joined from their
deltas), finish reasons, response id and model, usage when the server sent it
(``stream_options.include_usage``) and ``gen_ai.response.time_to_first_chunk``. The span ends
once, when the stream is exhausted, fails, is closed, leaves its ``with`` block or is garbage
collected. It is current during the HTTP call that opens the stream, not while the caller reads.

Per-token output of the first choice, when the server sent it (``logprobs=True``; vLLM's
``return_token_ids``): ``trajotel.output.logprobs`` always, ``trajotel.output.tokens`` and
``trajotel.prompt.token_ids`` / ``trajotel.output.token_ids`` only when content is captured on
the span and no redaction hook is configured (a hook cannot rewrite them).

Metrics (``trajotel.instrument.metrics``): one duration and, when the response has usage, two
token-usage points per call, recorded when its span ends.
Streamed calls through ``with_raw_response`` / ``with_streaming_response`` return no stream
object to wrap: their span ends at once, without response attributes.

Every instrumentation step runs through ``genai.safe_call``, so a bug here is logged and the
agent's call returns (or raises) exactly what it would without instrumentation.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import context
from opentelemetry.trace import Span, SpanKind, Tracer

from trajotel import semconv as sc
from trajotel.instrument import genai, streams
from trajotel.instrument.metrics import GenAIClientMetrics

PROVIDER_NAME = "openai"

# SDK parameters whose type is ``Iterable``: a generator must be read once, then handed on.
_ITERABLE_PARAMS = ("messages", "tools")


class InstrumentationState:
    """Shared by an instrumentor and its wrappers; stale wrappers pass through once inactive.

    ``with_raw_response`` binds ``create`` when first accessed, so an SDK object can keep a
    wrapper alive after ``uninstrument()``; the flag makes that wrapper inert.
    """

    def __init__(self) -> None:
        self.active = True


def chat_completions_create(
    tracer: Tracer, state: InstrumentationState, metrics: GenAIClientMetrics | None = None
) -> Callable[..., Any]:
    """A wrapt wrapper for ``Completions.create``; ``metrics`` records one operation per call."""

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]):
        if not state.active:
            return wrapped(*args, **kwargs)
        kwargs = genai.readable_kwargs(kwargs, _ITERABLE_PARAMS)
        call = genai.safe_call(_Call.start, tracer, instance, kwargs, metrics)
        if call is None:
            return wrapped(*args, **kwargs)
        token = genai.safe_call(genai.attach_span, call.span)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            call.fail(exc)
            raise
        finally:
            if token is not None:
                genai.safe_call(context.detach, token)
        return call.finish(result)

    return wrapper


def async_chat_completions_create(
    tracer: Tracer, state: InstrumentationState, metrics: GenAIClientMetrics | None = None
) -> Callable[..., Any]:
    """A wrapt wrapper for ``AsyncCompletions.create``: the same span as the sync wrapper."""

    async def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ):
        if not state.active:
            return await wrapped(*args, **kwargs)
        kwargs = genai.readable_kwargs(kwargs, _ITERABLE_PARAMS)
        call = genai.safe_call(_Call.start, tracer, instance, kwargs, metrics)
        if call is None:
            return await wrapped(*args, **kwargs)
        # Attached and detached in this coroutine, around the HTTP call only: the same context.
        token = genai.safe_call(genai.attach_span, call.span)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            call.fail(exc)
            raise
        finally:
            if token is not None:
                genai.safe_call(context.detach, token)
        return call.finish(result)

    return wrapper


class _Call:
    """One instrumented ``create`` call: its span and what is needed to finish it."""

    def __init__(
        self,
        span: Span,
        capture: genai.ContentCapture,
        streaming: bool,
        metrics: GenAIClientMetrics | None = None,
        metric_attributes: Mapping[str, Any] | None = None,
    ) -> None:
        self.span = span
        self.capture = capture
        self.streaming = streaming
        self.metrics = metrics
        # Kept apart from the span: metrics are recorded even when the span is not sampled.
        self.metric_attributes = dict(metric_attributes or {})
        # time_to_first_chunk and the operation duration count from here: the request is about
        # to be sent.
        self.started = time.perf_counter()

    @classmethod
    def start(
        cls,
        tracer: Tracer,
        instance: Any,
        kwargs: Mapping[str, Any],
        metrics: GenAIClientMetrics | None = None,
    ) -> _Call:
        capture = genai.safe_call(genai.content_capture_mode, default=genai.ContentCapture.NO_CONTENT)
        capture = capture or genai.ContentCapture.NO_CONTENT
        streaming = bool(genai.safe_call(_is_streaming, kwargs, default=False))
        attributes = genai.safe_call(_base_attributes, instance, kwargs, default={}) or {}
        span = _start_span(tracer, instance, kwargs, capture)
        return cls(span, capture, streaming, metrics, attributes)

    def finish(self, result: Any) -> Any:
        """End the span now, or hand it to a stream proxy that ends it; return what to return."""
        if self.streaming:
            proxy = genai.safe_call(self._stream_proxy, result)
            if proxy is not None:
                return proxy
            # Not a stream object (``with_raw_response`` / ``with_streaming_response``): its body
            # is the caller's to read, so the span ends with the request attributes only.
            genai.safe_call(self.record_metrics, None, None)
            genai.safe_call(self.span.end)
            return result
        response = genai.safe_call(response_view, result)
        genai.safe_call(self.record_metrics, response, None)
        genai.safe_call(_end_with_result, self.span, response, self.capture)
        return result

    def fail(self, exc: BaseException) -> None:
        """The call raised: record the failure (span and duration metric) and end the span."""
        genai.safe_call(self.record_metrics, None, exc)
        genai.safe_call(_end_with_error, self.span, exc)

    def record_metrics(self, response: Any, exc: BaseException | None) -> None:
        if self.metrics is None:
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

    def _stream_proxy(self, result: Any) -> Any:
        import openai  # loaded already: it just returned ``result``

        if isinstance(result, openai.AsyncStream):
            proxy_class: type[Any] = streams.AsyncStreamProxy
        elif isinstance(result, openai.Stream):
            proxy_class = streams.SyncStreamProxy
        else:
            return None
        capture = self.capture
        finished: list[dict[str, Any]] = []  # the assembled completion, for the metrics

        def on_finish(span: Span, completion: dict[str, Any]) -> None:
            finished.append(completion)
            genai.safe_call(_set_response_attributes, span, completion)
            if capture.on_span and completion["choices"]:
                genai.safe_call(_set_output_content, span, completion)
            genai.safe_call(_set_token_attributes, span, completion, capture)

        def on_end(exc: BaseException | None) -> None:
            self.record_metrics(finished[0] if finished else None, exc)

        accumulator = streams.ChatChunkAccumulator(on_finish, keep_content=capture.on_span)
        stream_span = streams.StreamSpan(self.span, accumulator, self.started, _record_error, on_end)
        return proxy_class(result, stream_span)


def _is_streaming(kwargs: Mapping[str, Any]) -> bool:
    # The SDK itself tests ``stream or False``; its "omit" sentinel is falsy.
    return bool(kwargs.get("stream"))


def _identity_attributes(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Operation, provider and request model: plain lookups that cannot fail."""
    model = kwargs.get("model")
    return {
        sc.GEN_AI_OPERATION_NAME: sc.OP_CHAT,
        sc.GEN_AI_PROVIDER_NAME: PROVIDER_NAME,
        sc.GEN_AI_REQUEST_MODEL: model if isinstance(model, str) else None,
    }


def _base_attributes(instance: Any, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Identity and server attributes: what both the span and the metrics carry."""
    return {
        **_identity_attributes(kwargs),
        **genai.server_attributes(genai.client_base_url(instance)),
    }


def _start_span(
    tracer: Tracer, instance: Any, kwargs: Mapping[str, Any], capture: genai.ContentCapture
) -> Span:
    attributes = _identity_attributes(kwargs)
    # Each part guarded on its own: a failing one loses only its own attributes.
    base_url = genai.safe_call(genai.client_base_url, instance)
    attributes.update(genai.safe_call(genai.server_attributes, base_url, default={}) or {})
    attributes.update(genai.safe_call(request_attributes, kwargs, default={}) or {})
    span = tracer.start_span(genai.span_name(sc.OP_CHAT, kwargs.get("model")), kind=SpanKind.CLIENT)
    # From here on every step is guarded: the span exists and must reach span.end().
    genai.safe_call(genai.set_attributes, span, attributes)
    if capture.on_span:
        genai.safe_call(_set_input_content, span, kwargs)
    return span


def _output_type(response_format: Any) -> str | None:
    kind = genai.field(response_format, "type")
    if kind in ("json_object", "json_schema"):
        return "json"
    return "text" if kind == "text" else None


def request_attributes(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Request-parameter attributes of a ``chat.completions.create`` call."""
    params = {key: value for key, value in kwargs.items() if genai.is_given(value)}
    attributes: dict[str, Any] = {}
    stop = params.get("stop")
    n = params.get("n")
    attributes.update(
        {
            # max_completion_tokens replaced max_tokens in the API; either is the cap we want.
            sc.GEN_AI_REQUEST_MAX_TOKENS: genai.number(
                params.get("max_completion_tokens", params.get("max_tokens"))
            ),
            sc.GEN_AI_REQUEST_TEMPERATURE: genai.number(params.get("temperature")),
            sc.GEN_AI_REQUEST_TOP_P: genai.number(params.get("top_p")),
            sc.GEN_AI_REQUEST_FREQUENCY_PENALTY: genai.number(params.get("frequency_penalty")),
            sc.GEN_AI_REQUEST_PRESENCE_PENALTY: genai.number(params.get("presence_penalty")),
            sc.GEN_AI_REQUEST_SEED: genai.number(params.get("seed")),
            sc.GEN_AI_REQUEST_CHOICE_COUNT: n if genai.number(n) is not None and n != 1 else None,
            sc.GEN_AI_REQUEST_STOP_SEQUENCES: [stop] if isinstance(stop, str) else stop,
            sc.GEN_AI_OUTPUT_TYPE: _output_type(params.get("response_format")),
            sc.OPENAI_REQUEST_SERVICE_TIER: params.get("service_tier"),
        }
    )
    return attributes


def _set_input_content(span: Span, kwargs: Mapping[str, Any]) -> None:
    content: dict[str, Any] = {"input_messages": genai.input_messages(kwargs.get("messages"))}
    if genai.is_given(kwargs.get("tools")):
        content["tool_definitions"] = genai.tool_definitions(kwargs.get("tools"))
    genai.record_content(span, content)


def error_type(exc: BaseException) -> str:
    """``error.type`` of a failed call: the HTTP status ("429", "500", ...) or the class name."""
    import openai  # the SDK is loaded already: the exception came from it

    status = getattr(exc, "status_code", None) if isinstance(exc, openai.APIStatusError) else None
    return str(status) if status is not None else type(exc).__qualname__


def _record_error(span: Span, exc: BaseException) -> None:
    genai.record_error(span, exc, error_type(exc))


def _end_with_error(span: Span, exc: BaseException) -> None:
    try:
        _record_error(span, exc)
    finally:
        span.end()


def _end_with_result(span: Span, response: Any, capture: genai.ContentCapture) -> None:
    """End the span of a finished call; ``response`` is ``response_view`` of its result."""
    try:
        if response is not None:
            genai.safe_call(_set_response_attributes, span, response)
            if capture.on_span:
                genai.safe_call(_set_output_content, span, response)
            genai.safe_call(_set_token_attributes, span, response, capture)
    finally:
        span.end()


def response_view(result: Any) -> Any:
    """Something to read the completion from: the parsed object, or a raw response's JSON.

    ``with_raw_response`` returns a LegacyAPIResponse whose body the SDK has already read; its
    bytes are decoded here without touching the parse cache the caller will use. A body that is
    not read yet (``with_streaming_response``) is left alone: reading it would consume it.
    """
    if genai.field(result, "choices") is not None:
        return result
    http_response = getattr(result, "http_response", None)
    if http_response is None:
        return None
    try:
        body = http_response.content  # raises if unread; then there is nothing to record
    except Exception:
        return None
    payload = json.loads(body)
    return payload if isinstance(payload, dict) else None


def _set_response_attributes(span: Span, response: Any) -> None:
    choices = genai.field(response, "choices")
    attributes = {
        sc.GEN_AI_RESPONSE_ID: genai.field(response, "id"),
        sc.GEN_AI_RESPONSE_MODEL: genai.field(response, "model"),
        sc.GEN_AI_RESPONSE_FINISH_REASONS: genai.finish_reasons(choices),
        sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT: genai.field(response, "system_fingerprint"),
        sc.OPENAI_RESPONSE_SERVICE_TIER: genai.field(response, "service_tier"),
        **genai.usage_attributes(genai.field(response, "usage")),
    }
    genai.set_attributes(span, attributes)


def _set_output_content(span: Span, response: Any) -> None:
    messages = genai.output_messages(genai.field(response, "choices"))
    genai.record_content(span, {"output_messages": messages})


def _int_list(value: Any) -> list[int] | None:
    if isinstance(value, (list, tuple)) and all(
        genai.number(v) is not None and isinstance(v, int) for v in value
    ):
        return list(value)
    return None


def _first_choice(response: Any) -> Any:
    def index(choice: Any) -> int:
        value = genai.field(choice, "index", 0)
        return value if isinstance(value, int) else 0

    choices = genai.field(response, "choices") or []
    return min(choices, key=index, default=None)


def _set_token_attributes(span: Span, response: Any, capture: genai.ContentCapture) -> None:
    """Per-token output (logprobs, tokens, token ids) of the first choice, when the server sent it.

    Logprobs carry no content and are always recorded. Token strings and ids are the content
    itself: they follow the capture mode, and a redaction hook cannot rewrite them, so they are
    not recorded while one is configured.
    """
    first = _first_choice(response)
    entries = genai.field(genai.field(first, "logprobs"), "content")
    attributes: dict[str, str] = {}
    if isinstance(entries, (list, tuple)) and entries:
        logprobs = [genai.field(entry, "logprob") for entry in entries]
        if all(genai.number(v) is not None for v in logprobs):
            attributes[sc.TRAJOTEL_OUTPUT_LOGPROBS] = genai.to_json(logprobs)
    if capture.on_span and not genai.redaction_configured():
        if isinstance(entries, (list, tuple)) and entries:
            tokens = [genai.field(entry, "token") for entry in entries]
            if all(isinstance(t, str) for t in tokens):
                attributes[sc.TRAJOTEL_OUTPUT_TOKENS] = genai.to_json(tokens)
        # Extra fields of OpenAI-compatible servers (vLLM ``return_token_ids``): the SDK keeps
        # unknown fields, so they read like any other.
        prompt_ids = _int_list(genai.field(response, "prompt_token_ids"))
        if prompt_ids:
            attributes[sc.TRAJOTEL_PROMPT_TOKEN_IDS] = genai.to_json(prompt_ids)
        output_ids = _int_list(genai.field(first, "token_ids"))
        if output_ids:
            attributes[sc.TRAJOTEL_OUTPUT_TOKEN_IDS] = genai.to_json(output_ids)
    genai.set_attributes(span, attributes)
