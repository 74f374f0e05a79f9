"""How an API module answers: JSON bodies, OpenAI-style errors and chunked server-sent events."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler
from typing import Any

from trajotel.testing.fake_llm.scenario import Step, compact


class Reply:
    """The answering side of one request, handed to an API module's ``handle``."""

    def __init__(
        self,
        handler: BaseHTTPRequestHandler,
        scenarios: Mapping[str, Sequence[Step]],
        on_response: Callable[[str, Any], None] | None = None,
    ) -> None:
        self._handler = handler
        self.scenarios = scenarios
        # Keeps what was answered (``on_response("response", record)``), for tests to compare.
        self._on_response = on_response

    @property
    def path(self) -> str:
        return self._handler.path

    def json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        data = compact(payload).encode()
        if self._on_response is not None:
            self._on_response("response", {"status": status, "body": payload})
        handler = self._handler
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("x-request-id", f"req_fk{secrets.token_hex(6)}")
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)

    def openai_error(self, status: int, message: str, kind: str | None = None) -> None:
        kind = kind or ("server_error" if status >= 500 else "invalid_request_error")
        error = {"message": message, "type": kind, "param": None, "code": "fake_llm_error"}
        # The SDKs retry 5xx with back-off; a scripted failure should surface at once.
        self.json(status, {"error": error}, {"x-should-retry": "false"})

    def sse(self, events: Iterable[tuple[str, str]], done: bool = True) -> None:
        """Stream ``(event name or "", data)`` pairs as chunked SSE; ``done`` adds OpenAI's ``[DONE]``."""
        frames = list(events)
        recorded = [json.loads(data) for _, data in frames]
        if done:
            frames.append(("", "[DONE]"))
        body = ((f"event: {name}\n" if name else "") + f"data: {data}\n\n" for name, data in frames)
        self._stream("text/event-stream", recorded, (frame.encode() for frame in body))

    def ndjson(self, lines: Sequence[Any]) -> None:
        """Stream JSON values as chunked ``application/x-ndjson``, one line per chunk (Ollama)."""
        self._stream("application/x-ndjson", list(lines), (compact(line).encode() + b"\n" for line in lines))

    def _stream(self, content_type: str, recorded: list[Any], chunks: Iterable[bytes]) -> None:
        if self._on_response is not None:
            self._on_response("response", {"status": 200, "events": recorded})
        handler = self._handler
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for data in chunks:
            self.chunk(data)
        handler.wfile.write(b"0\r\n\r\n")

    def chunk(self, data: bytes) -> None:
        """One HTTP chunk, flushed at once."""
        self._handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self._handler.wfile.flush()
