"""Reading a response body on the side, as the caller reads it: content decoding and SSE events.

The catch-all sees the raw bytes of a response (still gzip/br-encoded when the server compressed
them), chunk by chunk, in whatever sizes the transport delivers. These helpers turn them into
what an accumulator wants: decoded bytes, then server-sent events (JSON payloads), or one JSON
document for a plain body. None of them touch the response itself.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from opentelemetry.trace import Span

from trajotel.instrument import genai
from trajotel.instrument.streams import ChunkAccumulator

# OpenAI's end-of-stream marker: not JSON, and carries nothing to record.
_DONE = "[DONE]"


class ContentDecoder:
    """Undo ``Content-Encoding`` with the HTTP library's own decoders (``identity`` is a no-op).

    httpx's decoders return bytes, httpx2's return iterators of bytes: both are accepted.
    """

    def __init__(self, library: str, encoding: str) -> None:
        codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        self._decoders: list[Any] = []
        if codings:
            supported = importlib.import_module(f"{library}._decoders").SUPPORTED_DECODERS
            # Applied in reverse: the last coding listed is the outermost one.
            self._decoders = [supported[c]() for c in reversed(codings)]

    @staticmethod
    def _as_list(output: bytes | Iterable[bytes]) -> list[bytes]:
        return [output] if isinstance(output, bytes) else list(output)

    def decode(self, data: bytes) -> bytes:
        pieces = [data]
        for decoder in self._decoders:
            pieces = [out for piece in pieces for out in self._as_list(decoder.decode(piece))]
        return b"".join(pieces)

    def flush(self) -> bytes:
        tail = b""
        for decoder in self._decoders:
            tail = b"".join(self._as_list(decoder.decode(tail)) + self._as_list(decoder.flush()))
        return tail


class EventStreamParser:
    """Incremental ``text/event-stream`` parser: bytes in, the ``data`` of each event out.

    Lines may end with LF or CRLF and may be split anywhere across chunks (a UTF-8 sequence never
    contains a LF byte, so splitting bytes on LF is safe).
    """

    def __init__(self) -> None:
        self._pending = b""
        self._data: list[str] = []

    def feed(self, data: bytes) -> Iterator[str]:
        self._pending += data
        *lines, self._pending = self._pending.split(b"\n")
        for line in lines:
            yield from self._line(line.rstrip(b"\r").decode("utf-8", "replace"))

    def close(self) -> Iterator[str]:
        """The last event, when the stream ended without its blank line."""
        if self._pending:
            yield from self._line(self._pending.rstrip(b"\r").decode("utf-8", "replace"))
            self._pending = b""
        yield from self._line("")

    def _line(self, line: str) -> Iterator[str]:
        if not line:  # a blank line dispatches the event
            if self._data:
                yield "\n".join(self._data)
                self._data = []
            return
        name, _, value = line.partition(":")
        if name == "data":
            self._data.append(value[1:] if value.startswith(" ") else value)


def event_payloads(datas: Iterable[str]) -> Iterator[Any]:
    """The JSON payloads of SSE events; ``[DONE]`` and non-JSON data are skipped."""
    for data in datas:
        if data.strip() == _DONE:
            continue
        try:
            yield json.loads(data)
        except ValueError:
            continue


class EventStreamAccumulator:
    """A ``ChunkAccumulator`` of raw body bytes that feeds each SSE event's JSON to ``events``."""

    def __init__(self, events: ChunkAccumulator, decoder: ContentDecoder) -> None:
        self._events = events
        self._decoder = decoder
        self._parser = EventStreamParser()

    def add(self, chunk: bytes) -> None:
        for payload in event_payloads(self._parser.feed(self._decoder.decode(chunk))):
            genai.safe_call(self._events.add, payload)

    def finish(self, span: Span) -> None:
        tail = list(self._parser.feed(self._decoder.flush())) + list(self._parser.close())
        for payload in event_payloads(tail):
            genai.safe_call(self._events.add, payload)
        self._events.finish(span)


class JsonBodyAccumulator:
    """A ``ChunkAccumulator`` of raw body bytes holding one JSON document, recorded at the end.

    A body read only in part does not parse, and then nothing is recorded from it.
    """

    def __init__(self, on_finish: Callable[[Span, Any], None], decoder: ContentDecoder) -> None:
        self._on_finish = on_finish
        self._decoder = decoder
        self._pieces: list[bytes] = []

    def add(self, chunk: bytes) -> None:
        self._pieces.append(self._decoder.decode(chunk))

    def finish(self, span: Span) -> None:
        body = b"".join(self._pieces) + self._decoder.flush()
        try:
            payload = json.loads(body)
        except ValueError:
            return  # unread, cut short or not JSON: nothing to record, and nothing wrong
        self._on_finish(span, payload)
