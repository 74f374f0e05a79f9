"""Raw responses whose body is unread when the SDK method returns, and the stream helpers.

``with_streaming_response.create(...)`` returns an ``APIResponse`` (``AsyncAPIResponse``) before
reading its body; a streamed call through ``with_raw_response`` returns a ``LegacyAPIResponse``
whose ``parse()`` opens the stream. The proxies here keep the call's span open until the caller
reads the body, then record the response (``parse()``, ``read()``, ``text()``, ``json()``), or
hand the span to a stream proxy when ``parse()`` returns a stream. The span ends at the latest
when the body is closed (the SDK's context manager closes it on exit) or the proxy is garbage
collected, without response attributes when the body was never read (or was read only through
``iter_bytes()`` / ``iter_text()`` / ``iter_lines()``, which leave nothing to decode).

``stream_helper`` wraps ``chat.completions.stream`` / ``responses.stream``: their managers make
the request through ``create`` (so the span is ``create``'s), but close only the HTTP response on
exit, not the stream object ``create`` returned; the manager proxy closes that too, so the span
ends when the ``with`` block does.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import wrapt

from trajotel.instrument import genai, streams

if TYPE_CHECKING:
    from trajotel.instrument.openai.wrappers import InstrumentationState, _Call

logger = logging.getLogger(__name__)


def body_proxy(result: Any, call: _Call) -> Any:
    """``result`` (a raw response with an unread body) inside the proxy that fits its class."""
    from openai._legacy_response import LegacyAPIResponse
    from openai._response import AsyncAPIResponse

    if isinstance(result, LegacyAPIResponse):
        return _LegacyStreamBody(result, call)
    if isinstance(result, AsyncAPIResponse):
        return _AsyncBody(result, call)
    return _SyncBody(result, call)


def _end_unread(call: _Call) -> None:
    # Runs from the garbage collector or at interpreter exit: must never raise.
    genai.safe_call(call.end, None)


class _Body(wrapt.ObjectProxy):  # type: ignore[misc]
    """What the three body proxies share: the call, and the stream ``parse()`` returned."""

    def __init__(self, wrapped: Any, call: _Call) -> None:
        super().__init__(wrapped)
        # ``_self_`` attributes stay on the proxy; any other name would be set on the response.
        self._self_call = call
        self._self_stream: Any = None  # (SDK stream, its proxy): parse() caches its result
        self._self_finalizer = weakref.finalize(self, _end_unread, call)

    def _self_parsed(self, parsed: Any) -> Any:
        """What ``parse()`` returns: the stream in its proxy, or ``parsed`` once recorded."""
        if self._self_stream is not None and self._self_stream[0] is parsed:
            return self._self_stream[1]
        proxy = genai.safe_call(self._self_call.stream_proxy, parsed)
        if proxy is not None:
            self._self_stream = (parsed, proxy)
            return proxy
        self._self_read()
        return parsed

    def _self_read(self) -> None:
        """The body has been read: record the response it holds and end the span."""
        from trajotel.instrument.openai.wrappers import response_view

        if not self._self_call.streaming:
            self._self_call.end(genai.safe_call(response_view, self.__wrapped__))


class _SyncBody(_Body):
    """An ``APIResponse`` from ``with_streaming_response``."""

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        return self._self_parsed(self.__wrapped__.parse(*args, **kwargs))

    def read(self) -> bytes:
        data = self.__wrapped__.read()
        self._self_read()
        return data

    def text(self) -> str:
        text = self.__wrapped__.text()
        self._self_read()
        return text

    def json(self) -> object:
        value = self.__wrapped__.json()
        self._self_read()
        return value

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            if self._self_stream is not None:
                genai.safe_call(self._self_stream[1].close)  # ends the stream's span
            genai.safe_call(self._self_call.end, None)


class _AsyncBody(_Body):
    """An ``AsyncAPIResponse`` from ``with_streaming_response``."""

    async def parse(self, *args: Any, **kwargs: Any) -> Any:
        return self._self_parsed(await self.__wrapped__.parse(*args, **kwargs))

    async def read(self) -> bytes:
        data = await self.__wrapped__.read()
        self._self_read()
        return data

    async def text(self) -> str:
        text = await self.__wrapped__.text()
        self._self_read()
        return text

    async def json(self) -> object:
        value = await self.__wrapped__.json()
        self._self_read()
        return value

    async def close(self) -> None:
        try:
            await self.__wrapped__.close()
        finally:
            if self._self_stream is not None:
                await _close_quietly(self._self_stream[1])
            genai.safe_call(self._self_call.end, None)


class _LegacyStreamBody(_Body):
    """A streamed call's ``LegacyAPIResponse`` (``with_raw_response``): ``parse()`` opens the stream.

    Only ``parse()`` is intercepted: ``text`` and ``content`` are properties here, and a body read
    through them leaves the span to end on garbage collection.
    """

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        return self._self_parsed(self.__wrapped__.parse(*args, **kwargs))


async def _close_quietly(stream: Any) -> None:
    """Close a stream proxy (ending its span); the caller's own exit must not fail because of it."""
    try:
        await stream.close()
    except Exception:
        logger.debug("trajotel: closing a stream on exit failed", exc_info=True)


# --- stream helpers (``chat.completions.stream``, ``responses.stream``) ------------------------


def stream_helper(state: InstrumentationState) -> Callable[..., Any]:
    """A wrapt wrapper of a ``.stream()`` helper: its manager also closes ``create``'s stream."""

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]):
        manager = wrapped(*args, **kwargs)
        if not state.active:
            return manager
        return genai.safe_call(_StreamManager, manager) or manager

    return wrapper


def _raw_stream(helper_stream: Any) -> Any:
    """The stream proxy under a helper's stream (``ChatCompletionStream._raw_stream``...)."""
    raw = getattr(helper_stream, "_raw_stream", None)
    return raw if isinstance(raw, (streams.SyncStreamProxy, streams.AsyncStreamProxy)) else None


class _StreamManager(wrapt.ObjectProxy):  # type: ignore[misc]
    """A ``ChatCompletionStreamManager`` / ``ResponseStreamManager`` (sync or async)."""

    def __init__(self, wrapped: Any) -> None:
        super().__init__(wrapped)
        self._self_entered: Any = None

    def __enter__(self) -> Any:
        self._self_entered = self.__wrapped__.__enter__()
        return self._self_entered

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(*exc_info)
        finally:
            raw = genai.safe_call(_raw_stream, self._self_entered)
            if raw is not None:
                genai.safe_call(raw.close)

    async def __aenter__(self) -> Any:
        self._self_entered = await self.__wrapped__.__aenter__()
        return self._self_entered

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(*exc_info)
        finally:
            raw = genai.safe_call(_raw_stream, self._self_entered)
            if raw is not None:
                await _close_quietly(raw)
