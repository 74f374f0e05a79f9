"""Request bodies for the OTLP/HTTP receiver: framing, size limits, decompression, early errors.

A body is framed by ``Content-Length`` or ``Transfer-Encoding: chunked`` and decoded from
``Content-Encoding`` gzip, with ``receive.max_request_bytes`` enforced before and after
decompression. A problem that ends the request raises ``RequestRejected``, which the handler turns
into a ``google.rpc.Status`` error body. When the framing is unusable (too large, malformed) the
connection cannot carry another request: the handler answers with ``Connection: close`` and then
``RequestBody.linger`` drains a bounded amount so the client reads our status, not a TCP reset.
"""

from __future__ import annotations

import contextlib
import email.message
import re
import socket
import time
import zlib
from collections.abc import Mapping
from io import BufferedIOBase
from typing import Literal

from google.protobuf.message import Message
from google.rpc import code_pb2

_GZIP = frozenset({"gzip", "x-gzip"})
_IDENTITY = frozenset({"", "identity"})

_MAX_LINE = 8192  # chunk-size and trailer lines
_MAX_TRAILERS = 64
# After refusing a body we did not read, discard up to this much of it (the OTel exporters'
# default request size cap is 64 MiB) for at most this long, so the client gets to read our answer.
_LINGER_BYTES = 64 * 1024 * 1024
_LINGER_TIMEOUT_S = 5.0
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")


class RequestRejected(Exception):
    """A request that gets a google.rpc.Status error body. ``close``: the body framing is unusable."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        close: bool = False,
        headers: Mapping[str, str] | None = None,
        details: list[Message] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.close = status, code, message, close
        self.headers = dict(headers or {})
        self.details = details or []


def too_large(limit: int, what: str, *, close: bool) -> RequestRejected:
    return RequestRejected(
        413,
        code_pb2.RESOURCE_EXHAUSTED,
        f"{what} exceeds the {limit}-byte limit (receive.max_request_bytes); send smaller batches",
        close=close,
    )


def clipped(text: str, limit: int = 100) -> str:
    """A client-supplied value, cut short enough to echo in an error message."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def media_type(header: str | None) -> str:
    """The lower-case ``type/subtype`` of a Content-Type header, without parameters."""
    return (header or "").split(";", 1)[0].strip().lower()


def gunzip(data: bytes, limit: int) -> bytes:
    """Decompress (multi-member) gzip, never producing more than ``limit`` bytes (gzip bombs)."""
    out = bytearray()
    while data:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out += inflater.decompress(data, limit + 1 - len(out))
            if len(out) > limit:
                raise too_large(limit, "decompressed body", close=False)  # raw body fully read
            if not inflater.eof:
                raise RequestRejected(400, code_pb2.INVALID_ARGUMENT, "gzip body is truncated")
        except zlib.error as exc:
            raise RequestRejected(400, code_pb2.INVALID_ARGUMENT, f"body is not valid gzip: {exc}") from None
        data = inflater.unused_data
    return bytes(out)


class RequestBody:
    """The body of one request on a keep-alive connection; read at most once.

    ``state``: "unread"; "none" once nothing is left to read; "broken" when the framing failed or
    was refused part-way, so the connection cannot be resynced for another request.
    ``must_close``: the body was read but RFC 9112 says to close the connection afterwards.
    """

    def __init__(self, rfile: BufferedIOBase, limit: int) -> None:
        self._rfile = rfile
        self._limit = limit
        self.state: Literal["none", "unread", "broken"] = "unread"
        self.must_close = False

    def read(self, headers: email.message.Message) -> bytes:
        """The body after Content-Encoding, enforcing the size limit before and after decompression."""
        encoding = (headers.get("Content-Encoding") or "").strip().lower()
        if encoding not in _GZIP and encoding not in _IDENTITY:
            raise RequestRejected(
                415,
                code_pb2.INVALID_ARGUMENT,
                f"Content-Encoding {clipped(encoding)} is not supported; use gzip or identity (none)",
            )
        raw = self.read_raw(headers)
        return gunzip(raw, self._limit) if encoding in _GZIP and raw else raw

    def read_raw(self, headers: email.message.Message) -> bytes:
        """The body as sent (still content-encoded); empty once it was read or skipped."""
        if self.state != "unread":
            return b""
        limit = self._limit
        transfer = [c.strip().lower() for c in (headers.get("Transfer-Encoding") or "").split(",")]
        lengths = headers.get_all("Content-Length") or []
        self.state = "broken"  # until read completely
        if transfer != [""]:
            if transfer != ["chunked"]:
                raise RequestRejected(
                    501 if transfer[-1] == "chunked" else 400,
                    code_pb2.INVALID_ARGUMENT,
                    f"Transfer-Encoding {', '.join(transfer)} is not supported; use chunked",
                    close=True,
                )
            if lengths:
                self.must_close = True  # both framings: RFC 9112 says close afterwards
            body = self._read_chunked(limit)
        elif lengths:
            text = lengths[0].strip()
            if len(set(lengths)) != 1 or not (text.isascii() and text.isdigit()):
                raise RequestRejected(
                    400, code_pb2.INVALID_ARGUMENT, f"bad Content-Length {lengths}", close=True
                )
            size = int(text)
            if size > limit:
                raise too_large(limit, "request body", close=True)
            body = self._rfile.read(size)
            if len(body) != size:
                raise RequestRejected(400, code_pb2.INVALID_ARGUMENT, "request body ended early", close=True)
        else:
            body = b""  # a request without framing headers has no body
        self.state = "none"
        return body

    def _read_chunked(self, limit: int) -> bytes:
        def bad(why: str) -> RequestRejected:
            return RequestRejected(
                400, code_pb2.INVALID_ARGUMENT, f"malformed chunked body: {why}", close=True
            )

        parts: list[bytes] = []
        total = 0
        while True:
            line = self._rfile.readline(_MAX_LINE + 1)
            if not line.endswith(b"\n"):
                raise bad("chunk-size line too long or body ended early")
            size_text = line.split(b";", 1)[0].strip()
            if not _HEX.fullmatch(size_text):
                raise bad(f"chunk size {size_text[:20]!r} is not hex")
            size = int(size_text, 16)
            if size == 0:
                break
            total += size
            if total > limit:
                raise too_large(limit, "request body", close=True)
            chunk = self._rfile.read(size)
            if len(chunk) != size or self._rfile.readline(3) not in (b"\r\n", b"\n"):
                raise bad("chunk shorter than its declared size")
            parts.append(chunk)
        for _ in range(_MAX_TRAILERS):
            line = self._rfile.readline(_MAX_LINE + 1)
            if line in (b"\r\n", b"\n"):
                return b"".join(parts)
            if not line.endswith(b"\n"):
                raise bad("trailer line too long or body ended early")
        raise bad("too many trailer fields")

    def discard(self, headers: email.message.Message) -> bool:
        """Consume an unneeded body so the connection can carry the next request; False if it cannot."""
        try:
            self.read_raw(headers)
        except RequestRejected:
            return False
        return True

    def linger(self, connection: socket.socket) -> None:
        """Close after the client has read our response, not while it is still sending.

        Closing a socket with unread request data makes the kernel send a reset, and the client
        then loses our status response. Half-close, drain a bounded amount, then let it close.
        """
        deadline = time.monotonic() + _LINGER_TIMEOUT_S
        drained = 0
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_WR)
            while drained < _LINGER_BYTES and (remaining := deadline - time.monotonic()) > 0:
                connection.settimeout(remaining)
                chunk = self._rfile.read1(1024 * 1024)
                if not chunk:
                    break
                drained += len(chunk)
