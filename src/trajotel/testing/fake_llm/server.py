"""The fake server's HTTP side: routing, request log, lifecycle and the command line."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

from trajotel.testing.fake_llm import anthropic, chat, completions, embeddings, ollama, responses
from trajotel.testing.fake_llm.scenario import DEFAULT_SCENARIOS, Step
from trajotel.testing.fake_llm.wire import Reply

# POST routes: path (query string ignored) -> ``handle(reply, request, raw_body)``.
# Adding an API is one module with ``PATH`` and ``handle``, plus its line here.
ROUTES: dict[str, Callable[[Reply, dict[str, Any], str], None]] = {
    chat.PATH: chat.handle,
    anthropic.PATH: anthropic.handle,
    responses.PATH: responses.handle,
    embeddings.PATH: embeddings.handle,
    completions.PATH: completions.handle,
    ollama.PATH: ollama.handle,
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real API servers do
    timeout = 60  # an idle keep-alive connection must not pin a thread forever
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read stdout
        pass

    def do_GET(self) -> None:
        self.server.owner._record(self, None)
        reply = Reply(self, self.server.owner.scenarios)
        if self.path.rstrip("/") in ("/healthz", "/v1/healthz"):
            reply.json(200, {"status": "ok"})
        elif self.path.rstrip("/") == "/v1/models":
            names = sorted(self.server.owner.scenarios)
            models = [{"id": name, "object": "model", "created": 0, "owned_by": "trajotel"} for name in names]
            reply.json(200, {"object": "list", "data": models})
        else:
            reply.openai_error(404, f"no route for GET {self.path}", "not_found")

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
        try:
            request = json.loads(raw)
        except ValueError:
            request = None
        owner = self.server.owner
        entry = owner._record(self, request)
        reply = Reply(self, owner.scenarios, on_response=entry.__setitem__)
        route = ROUTES.get(self.path.split("?", 1)[0].rstrip("/"))
        with owner._in_flight():
            if owner.latency_s:
                time.sleep(owner.latency_s)  # a model's think time, for benchmarks and concurrency tests
            if route is None:
                reply.openai_error(404, f"no route for POST {self.path}", "not_found")
            elif not isinstance(request, dict):
                reply.openai_error(400, "request body is not a JSON object", "invalid_request_error")
            else:
                route(reply, request, raw)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: FakeLLMServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hang up mid-connection all the time (keep-alive, abandoned streams): not an error.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


@dataclass
class FakeLLMServer:
    """The fake server; ``start()`` binds (port 0 = a free port) and serves on a thread."""

    scenarios: Mapping[str, Sequence[Step]] | None = None
    host: str = "127.0.0.1"
    port: int = 0
    latency_s: float = 0.0  # every POST is answered this much later
    max_in_flight: int = field(default=0, init=False)  # most POSTs being answered at once so far
    _now_in_flight: int = field(default=0, init=False, repr=False)
    _requests: list[dict[str, Any]] = field(default_factory=list, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _server: _Server | None = field(default=None, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.scenarios = {**DEFAULT_SCENARIOS, **(self.scenarios or {})}

    @property
    def base_url(self) -> str:
        """The OpenAI ``base_url``: ``http://HOST:PORT/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Received requests so far: ``{"method", "path", "headers", "body"}`` (body: parsed JSON).

        POSTs also get ``"response"`` once answered: ``{"status", "body"}`` for JSON, or
        ``{"status", "events"}`` (the SSE data, parsed JSON, ``[DONE]`` left out) for streams.
        """
        with self._lock:
            return list(self._requests)

    def _record(self, handler: BaseHTTPRequestHandler, body: Any) -> dict[str, Any]:
        entry = {
            "method": handler.command,
            "path": handler.path,
            "headers": dict(handler.headers),
            "body": body,
        }
        with self._lock:
            self._requests.append(entry)
        return entry

    @contextlib.contextmanager
    def _in_flight(self) -> Iterator[None]:
        with self._lock:
            self._now_in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._now_in_flight)
        try:
            yield
        finally:
            with self._lock:
                self._now_in_flight -= 1

    def start(self) -> FakeLLMServer:
        server = _Server((self.host, self.port), _Handler)
        server.owner = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="fake-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m trajotel.testing.fake_llm", description="Fake OpenAI server."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    stopped = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with FakeLLMServer(host=args.host, port=args.port) as server:
        # Whoever started us waits for this line to learn the port.
        print(f"fake-llm listening on http://{server.host}:{server.port}", flush=True)
        while not stopped.wait(0.5):
            pass
    return 0
