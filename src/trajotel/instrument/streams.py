"""Streamed responses: one span per stream, fed chunk by chunk and ended exactly once.

A provider wrapper starts its span, makes the HTTP call, then hands the SDK's stream object to
``SyncStreamProxy`` / ``AsyncStreamProxy`` with a ``StreamSpan``. The proxy forwards everything
(iteration, ``close()``, context managers, attributes; ``isinstance`` still sees the SDK class)
and reports each chunk and the end of the stream to the ``StreamSpan``, which ends the span on
the first of: exhaustion, an exception while iterating, ``close()``, context-manager exit, or the
proxy being garbage collected.

The span is never made current while the caller iterates: a context attached in one place and
detached in another (another task, a finalizer) is exactly what produces "Failed to detach
context" errors, and the caller's own spans must not nest under ours.

``ChatChunkAccumulator`` assembles OpenAI chat-completion chunks (the format most providers and
OpenAI-compatible servers stream) into the shape of a non-streamed completion, so the
non-streaming span code can read it unchanged.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import wrapt
from opentelemetry.trace import Span

from trajotel import semconv as sc
from trajotel.instrument import genai

__all__ = [
    "AsyncStreamProxy",
    "ChatChunkAccumulator",
    "ChunkAccumulator",
    "StreamSpan",
    "SyncStreamProxy",
]


class ChunkAccumulator(Protocol):
    """What a ``StreamSpan`` feeds chunks to, and asks to record them at the end."""

    def add(self, chunk: Any) -> None: ...

    def finish(self, span: Span) -> None: ...


class StreamSpan:
    """The span of one stream: records chunks, ends exactly once, never raises.

    It holds no reference to the proxy, so a finalizer of the proxy can end it.
    """

    def __init__(
        self,
        span: Span,
        accumulator: ChunkAccumulator,
        started: float,
        record_error: Callable[[Span, BaseException], None] = genai.record_error,
        on_end: Callable[[BaseException | None], None] | None = None,
    ) -> None:
        self.span = span
        self._accumulator = accumulator
        self._add = accumulator.add
        self._started = started  # time.perf_counter() just before the request was sent
        self._first_chunk: float | None = None
        self._record_error = record_error
        # Called once after the accumulator has recorded (metrics need the whole stream).
        self._on_end = on_end
        self._lock = threading.Lock()  # a finalizer may run on any thread
        self._ended = False

    def chunk(self, chunk: Any) -> None:
        if self._ended:
            return  # chunks read after close() (or a failure) belong to no span
        if self._first_chunk is None:
            self._first_chunk = time.perf_counter()
        try:  # inline rather than genai.safe_call: this runs once per token
            self._add(chunk)
        except Exception:
            genai.report_failure(self._add)

    def stopped(self, exc: BaseException) -> None:
        """Reading the stream raised ``exc``: its normal end (StopIteration...) or a failure."""
        self.end(None if isinstance(exc, (StopIteration, StopAsyncIteration)) else exc)

    def end(self, exc: BaseException | None = None) -> None:
        with self._lock:
            if self._ended:
                return
            self._ended = True
        try:
            if self._first_chunk is not None:
                ttfc = max(0.0, self._first_chunk - self._started)
                genai.safe_call(self.span.set_attribute, sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, ttfc)
            genai.safe_call(self._accumulator.finish, self.span)
            if exc is not None:
                genai.safe_call(self._record_error, self.span, exc)
            if self._on_end is not None:
                genai.safe_call(self._on_end, exc)
        finally:
            genai.safe_call(self.span.end)


def _end_abandoned(stream_span: StreamSpan) -> None:
    # Runs from the garbage collector or at interpreter exit: must never raise.
    genai.safe_call(stream_span.end)


def _next_chunk(next_chunk: Callable[[], Any], stream_span: StreamSpan) -> Any:
    """The stream's next chunk, reported to ``stream_span`` (as is its end or failure)."""
    try:
        chunk = next_chunk()
    except BaseException as exc:
        stream_span.stopped(exc)
        raise
    stream_span.chunk(chunk)
    return chunk


async def _next_chunk_async(next_chunk: Callable[[], Awaitable[Any]], stream_span: StreamSpan) -> Any:
    """``_next_chunk`` of an async stream."""
    try:
        chunk = await next_chunk()
    except BaseException as exc:
        stream_span.stopped(exc)
        raise
    stream_span.chunk(chunk)
    return chunk


class SyncStreamProxy(wrapt.ObjectProxy):  # type: ignore[misc]
    """A transparent proxy of a synchronous SDK stream that reports to a ``StreamSpan``."""

    def __init__(self, wrapped: Any, stream_span: StreamSpan) -> None:
        super().__init__(wrapped)
        # ``_self_`` attributes stay on the proxy; any other name would be set on the stream.
        self._self_stream_span = stream_span
        self._self_finalizer = weakref.finalize(self, _end_abandoned, stream_span)

    def __next__(self) -> Any:
        return _next_chunk(self.__wrapped__.__next__, self._self_stream_span)

    def __iter__(self) -> Any:
        # A generator, as the SDK's own ``__iter__``: leaving a ``for`` loop early (``break``)
        # closes this generator only, and the stream can still be read or closed afterwards.
        # The chunks come from the SDK's own iterator (a generator resumed from C), not from
        # a Python-level ``__next__`` call per chunk.
        next_chunk, stream_span = iter(self.__wrapped__).__next__, self._self_stream_span
        seen = stream_span.chunk
        while True:
            try:  # ``_next_chunk``, inline: this runs once per token
                chunk = next_chunk()
            except StopIteration as exc:
                stream_span.stopped(exc)
                return
            except BaseException as exc:
                stream_span.stopped(exc)
                raise
            seen(chunk)
            yield chunk

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            self._self_stream_span.end()

    def __enter__(self) -> Any:
        entered = self.__wrapped__.__enter__()
        # The SDK returns the stream itself; handing that out would bypass the proxy.
        return self if entered is self.__wrapped__ else entered

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(*exc_info)
        finally:
            self._self_stream_span.end()


class AsyncStreamProxy(wrapt.ObjectProxy):  # type: ignore[misc]
    """A transparent proxy of an asynchronous SDK stream that reports to a ``StreamSpan``."""

    def __init__(self, wrapped: Any, stream_span: StreamSpan) -> None:
        super().__init__(wrapped)
        self._self_stream_span = stream_span
        self._self_finalizer = weakref.finalize(self, _end_abandoned, stream_span)

    async def __anext__(self) -> Any:
        return await _next_chunk_async(self.__wrapped__.__anext__, self._self_stream_span)

    async def __aiter__(self) -> Any:
        # An async generator, as the SDK's own ``__aiter__`` (see SyncStreamProxy.__iter__).
        next_chunk, stream_span = self.__wrapped__.__anext__, self._self_stream_span
        while True:
            try:
                chunk = await _next_chunk_async(next_chunk, stream_span)
            except StopAsyncIteration:
                return
            yield chunk

    async def close(self) -> None:
        try:
            await self.__wrapped__.close()
        finally:
            self._self_stream_span.end()

    async def aclose(self) -> None:
        # The SDK's aclose() calls its own close(), which would bypass the proxy.
        await self.close()

    async def __aenter__(self) -> Any:
        entered = await self.__wrapped__.__aenter__()
        return self if entered is self.__wrapped__ else entered

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(*exc_info)
        finally:
            self._self_stream_span.end()


# --- OpenAI chat-completion chunks ---------------------------------------------------------


_view = genai.fields_of  # chunks are the hot path: one view per part, then plain gets
_view_kinds = genai._view_kinds  # how ``fields_of`` reads each type (the same dict object)


class _ToolCall:
    __slots__ = ("arguments", "id", "name", "type")

    def __init__(self) -> None:
        self.id: str | None = None
        self.type: str | None = None
        self.name: str | None = None
        self.arguments: list[str] = []

    def add(self, delta: Mapping[str, Any], function: Mapping[str, Any]) -> None:
        # Only the first delta of a call carries its id and name; some servers repeat them in
        # every delta, so the first value wins instead of being concatenated.
        self.id = self.id or delta.get("id")
        self.type = self.type or delta.get("type")
        self.name = self.name or function.get("name")
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            self.arguments.append(arguments)

    def function(self) -> dict[str, Any]:
        return {"name": self.name, "arguments": "".join(self.arguments)}


class _Choice:
    def __init__(self) -> None:
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.refusal: list[str] = []
        self.tool_calls: dict[int, _ToolCall] = {}
        self.function_call: _ToolCall | None = None
        self.finish_reason: str | None = None
        self.logprobs: list[Any] = []  # logprobs.content entries, one per token
        self.token_ids: list[int] = []  # vLLM ``return_token_ids``: generated ids, all chunks

    def message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.content) or None}
        if self.reasoning:
            message["reasoning_content"] = "".join(self.reasoning)
        if self.refusal:
            message["refusal"] = "".join(self.refusal)
        if self.tool_calls:
            message["tool_calls"] = [
                {"id": call.id, "type": call.type or "function", "function": call.function()}
                for _, call in sorted(self.tool_calls.items())
            ]
        if self.function_call is not None:
            message["function_call"] = self.function_call.function()
        return message


class ChatChunkAccumulator:
    """Assembles OpenAI ``chat.completion.chunk`` objects (or dicts) into a completion dict.

    ``keep_content=False`` keeps only what the span records without content (ids, finish
    reasons, usage), so a stream's text is not held in memory for nothing.
    """

    def __init__(self, on_finish: Callable[[Span, dict[str, Any]], None], keep_content: bool = True) -> None:
        self._on_finish = on_finish  # records the assembled completion on the span
        self._keep_content = keep_content
        self._choices: dict[int, _Choice] = {}
        self._response: dict[str, Any] = {}
        self._identified = False  # the response id is known
        self._usage: Any = None

    def add(self, chunk: Any) -> None:
        # Once per token: one view per part, plain gets, no per-chunk allocation. A pydantic
        # chunk without extra fields (the usual) is read through its ``__dict__`` directly.
        kinds = _view_kinds
        if kinds.get(type(chunk)) == "pydantic" and not chunk.__pydantic_extra__:
            data = chunk.__dict__
        else:
            data = _view(chunk)
        if not self._identified:
            self._identify(data)
        usage = data.get("usage")
        if usage is not None:  # with include_usage, every chunk but the last has usage: null
            self._usage = usage
        choices = data.get("choices")
        if not choices:
            return
        keep_content = self._keep_content
        for choice_object in choices:
            if kinds.get(type(choice_object)) == "pydantic" and not choice_object.__pydantic_extra__:
                choice = choice_object.__dict__
            else:
                choice = _view(choice_object)
            index = choice.get("index", 0)
            key = index if isinstance(index, int) else 0
            state = self._choices.get(key)
            if state is None:
                state = self._choices[key] = _Choice()
            finish = choice.get("finish_reason")
            if finish is not None:
                state.finish_reason = finish
            if keep_content:
                delta = choice.get("delta")
                if delta is not None:
                    if kinds.get(type(delta)) == "pydantic" and not delta.__pydantic_extra__:
                        self._add_delta(state, delta.__dict__)
                    else:
                        self._add_delta(state, _view(delta))
            if choice.get("logprobs") is not None or choice.get("token_ids") is not None:
                self._add_tokens(state, choice)

    def _identify(self, data: Mapping[str, Any]) -> None:
        # Every chunk repeats the response's identity: read it until it is known (Azure's first
        # chunk carries an empty id and model, for its content-filter results).
        response = self._response
        for key in ("id", "model", "system_fingerprint", "service_tier"):
            value = data.get(key)
            if value is not None:
                response[key] = value
        prompt_token_ids = data.get("prompt_token_ids")  # vLLM: first chunk only
        if self._keep_content and prompt_token_ids is not None:
            response["prompt_token_ids"] = prompt_token_ids
        self._identified = bool(response.get("id"))

    def _add_tokens(self, state: _Choice, choice: Mapping[str, Any]) -> None:
        # Logprobs hold no content and are kept in every capture mode; token strings and ids
        # are content, kept only with it (the span code decides what it records).
        entries = _view(choice.get("logprobs")).get("content")
        if isinstance(entries, (list, tuple)):
            if self._keep_content:
                state.logprobs.extend(entries)
            else:
                state.logprobs.extend({"logprob": genai.field(entry, "logprob")} for entry in entries)
        token_ids = choice.get("token_ids")
        if self._keep_content and isinstance(token_ids, (list, tuple)):
            state.token_ids.extend(token_ids)

    def _add_delta(self, state: _Choice, delta: Mapping[str, Any]) -> None:
        content = delta.get("content")
        if isinstance(content, str) and content:
            state.content.append(content)
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            state.refusal.append(refusal)
        # OpenAI-compatible servers disagree on the name (vLLM/DeepSeek vs OpenRouter).
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            state.reasoning.append(reasoning)
        tool_calls = delta.get("tool_calls")
        if not tool_calls and delta.get("function_call") is None:
            return  # the common delta: text only
        for call_object in tool_calls or ():
            call = _view(call_object)
            index = call.get("index", 0)
            key = index if isinstance(index, int) else 0
            state.tool_calls.setdefault(key, _ToolCall()).add(call, _view(call.get("function")))
        function_call = delta.get("function_call")  # pre-tools API
        if function_call is not None:
            state.function_call = state.function_call or _ToolCall()
            state.function_call.add({}, _view(function_call))

    def completion(self) -> dict[str, Any]:
        """What was streamed so far, shaped as a non-streamed ``chat.completion``.

        ``usage`` is present only if the server sent it: absent usage must stay absent, not 0.
        A choice whose stream was cut short has no finish reason.
        """
        result: dict[str, Any] = dict(self._response)
        result["choices"] = [self._choice(index, state) for index, state in sorted(self._choices.items())]
        if self._usage is not None:
            result["usage"] = self._usage
        return result

    @staticmethod
    def _choice(index: int, state: _Choice) -> dict[str, Any]:
        choice: dict[str, Any] = {
            "index": index,
            "message": state.message(),
            "finish_reason": state.finish_reason,
        }
        if state.logprobs:
            choice["logprobs"] = {"content": state.logprobs}
        if state.token_ids:
            choice["token_ids"] = state.token_ids
        return choice

    def finish(self, span: Span) -> None:
        self._on_finish(span, self.completion())
