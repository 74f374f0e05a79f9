"""OTLP/HTTP receiver (``/v1/traces``, ``/v1/logs``) plus pluggable extra routes.

Status codes follow the OTLP/HTTP spec, whose retry rules exporters implement:

* 200 with an Export*ServiceResponse (``partial_success`` when items were rejected);
* 400 for undecodable data (not retryable), 413 too large, 415 unsupported media type/encoding;
* 503 (retryable) when the data was not made durable, with ``Retry-After`` under backpressure;
* error bodies are a ``google.rpc.Status`` in the request's encoding (protobuf or JSON).

Connections are HTTP/1.1 keep-alive. After any error the connection is left reusable: a body we
did not need is read and discarded when it is within limits; otherwise (too large, broken
framing) the response says ``Connection: close`` and the socket is closed after a bounded drain,
so the client reads our status instead of a TCP reset.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import socket
import socketserver
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from google.protobuf.any_pb2 import Any as AnyProto
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import DecodeError, Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from trajotel.config import ReceiveConfig
from trajotel.errors import BackpressureError, InvalidInputError, NotFoundError, TrajotelError
from trajotel.receive import otlp_json
from trajotel.receive.grpc_server import METRICS_NOT_STORED
from trajotel.receive.http_body import RequestBody, RequestRejected, clipped, media_type, too_large
from trajotel.receive.sink import ExportSink
from trajotel.receive.validate import validate_logs, validate_traces

log = logging.getLogger(__name__)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
ACCEPTED_TYPES = (PROTOBUF, JSON)
IDLE_TIMEOUT_S = 120.0  # per blocking socket read; frees threads held by vanished clients


# --- the route API ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    path: str  # without the query string
    query: dict[str, str]  # last value wins for repeated keys
    headers: dict[str, str]  # lower-case names
    body: bytes  # after Content-Encoding, at most ReceiveConfig.max_request_bytes
    # Values of the route's ``{name}`` path segments, e.g. ``/v1/trajectories/{id}`` -> {"id": ...}.
    params: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class HttpResponse:
    status: int = 200
    content_type: str = "application/json"
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, value: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> HttpResponse:
        body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return cls(status, "application/json", body, dict(headers or {}))


Route = Callable[[HttpRequest], HttpResponse]


# --- the connection handler -----------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server_version = "trajotel"
    sys_version = ""
    protocol_version = "HTTP/1.1"  # keep-alive
    timeout = IDLE_TIMEOUT_S
    disable_nagle_algorithm = True  # headers and body go out as two writes: don't delay the second
    server: _Server

    # Set per request.
    _body: RequestBody

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, busy=False)

    def finish(self) -> None:
        self.server.untrack(self.connection)
        with contextlib.suppress(OSError):  # client already gone
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def parse_request(self) -> bool:
        self._body = RequestBody(self.rfile, self.server.max_bytes)
        self.server.track(self.connection, busy=True)
        return super().parse_request()

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except OSError as exc:  # reset, timeout mid-body, broken pipe: the connection is gone
            log.debug("connection from %s dropped: %s", self.address_string(), exc)
            self.close_connection = True
        finally:
            self.server.track(self.connection, busy=False)
        if self.server.stopping:
            self.close_connection = True

    def handle_expect_100(self) -> bool:
        # Refuse an oversized body before the client sends it, rather than after.
        declared = self.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.server.max_bytes:
            self._body.state = "none"  # the client waits for us: nothing was sent
            self.close_connection = True
            self._send_status(too_large(self.server.max_bytes, "request body", close=True))
            return False
        return super().handle_expect_100()

    # -- dispatch --

    def _dispatch(self) -> None:
        try:
            self._route()
        except OSError:
            raise  # the connection is gone; handle_one_request closes it
        except Exception:
            log.exception("%s %s failed", self.command, self.path)
            self._send_status(
                RequestRejected(500, code_pb2.INTERNAL, "internal error; see the collector log")
            )

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _dispatch

    def _route(self) -> None:
        target = self.path
        if target.startswith(("http://", "https://")):  # absolute-form request target
            parts = urlsplit(target)
            target = parts.path + ("?" + parts.query if parts.query else "")
        path, _, query = target.partition("?")
        method = self.command
        route = self.server.routes.get((method, path))
        try:
            if route is None:
                route = self.server.match_pattern(method, path)
            if route is None:
                allowed = sorted(m for m, p in self.server.routes if p == path)
                allowed += self.server.pattern_methods(path)
                if allowed:
                    raise RequestRejected(
                        405,
                        code_pb2.UNIMPLEMENTED,
                        f"{method} is not allowed on {path}; use {', '.join(allowed)}",
                        headers={"Allow": ", ".join(allowed)},
                    )
                known = ", ".join(sorted({p for _, p in self.server.routes} | self.server.pattern_paths()))
                raise RequestRejected(404, code_pb2.NOT_FOUND, f"no endpoint {path}; endpoints: {known}")
            response = route(self, path, query)
        except RequestRejected as rejection:
            self._send_status(rejection)
            return
        self._send(response)

    # -- OTLP endpoints (bound in _Server) --

    def _otlp_traces(self, path: str, query: str) -> HttpResponse:
        content_type = self._otlp_content_type()
        body = self._body.read(self.headers)
        if content_type == PROTOBUF:
            request = self._parse_protobuf(body, ExportTraceServiceRequest)
        else:
            request = self._decode_json(otlp_json.decode_traces, body)
        result = validate_traces(request)
        if result.accepted:
            self._store(self.server.sink.export_traces, result.request, "spans")
        response = ExportTraceServiceResponse()
        if result.rejected:
            response.partial_success.rejected_spans = result.rejected
            response.partial_success.error_message = result.error_message
        return self._encoded(200, response, content_type)

    def _otlp_logs(self, path: str, query: str) -> HttpResponse:
        content_type = self._otlp_content_type()
        body = self._body.read(self.headers)
        if content_type == PROTOBUF:
            request = self._parse_protobuf(body, ExportLogsServiceRequest)
        else:
            request = self._decode_json(otlp_json.decode_logs, body)
        result = validate_logs(request)
        if result.accepted:
            self._store(self.server.sink.export_logs, result.request, "log records")
        response = ExportLogsServiceResponse()
        if result.rejected:
            response.partial_success.rejected_log_records = result.rejected
            response.partial_success.error_message = result.error_message
        return self._encoded(200, response, content_type)

    def _otlp_metrics(self, path: str, query: str) -> HttpResponse:
        raise RequestRejected(501, code_pb2.UNIMPLEMENTED, METRICS_NOT_STORED)

    def _health(self, path: str, query: str) -> HttpResponse:
        return HttpResponse(200, "text/plain; charset=utf-8", b"ok\n")

    def _custom(
        self, route: Route, path: str, query: str, params: dict[str, str] | None = None
    ) -> HttpResponse:
        request = HttpRequest(
            method=self.command,
            path=path,
            query=dict(parse_qsl(query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self._body.read(self.headers),
            params=params or {},
        )
        try:
            return route(request)
        except TrajotelError as exc:
            status, headers = 400, {}
            if isinstance(exc, NotFoundError):
                status = 404
            elif isinstance(exc, BackpressureError):
                status, headers = 503, {"Retry-After": _retry_after(exc)}
            return HttpResponse.json({"error": str(exc), "hint": exc.hint}, status, headers)
        except Exception:
            log.exception("%s %s failed", self.command, path)
            return HttpResponse.json({"error": f"internal error in {self.command} {path}", "hint": None}, 500)

    # -- OTLP helpers --

    def _otlp_content_type(self) -> str:
        content_type = media_type(self.headers.get("Content-Type"))
        if content_type not in ACCEPTED_TYPES:
            shown = clipped(self.headers.get("Content-Type") or "(none)")
            raise RequestRejected(
                415,
                code_pb2.INVALID_ARGUMENT,
                f"Content-Type {shown} is not supported; use {PROTOBUF} or {JSON}",
            )
        return content_type

    def _parse_protobuf(self, body: bytes, cls: type[Message]) -> Any:
        try:
            return cls.FromString(body)
        except DecodeError as exc:
            raise RequestRejected(
                400, code_pb2.INVALID_ARGUMENT, f"body is not a valid protobuf {cls.__name__}: {exc}"
            ) from None

    def _decode_json(self, decode: Callable[[bytes], Message], body: bytes) -> Any:
        try:
            return decode(body)
        except InvalidInputError as exc:
            message = f"{exc} ({exc.hint})" if exc.hint else str(exc)
            raise RequestRejected(400, code_pb2.INVALID_ARGUMENT, message) from None

    def _store(self, export: Callable[[Any], None], request: Message, what: str) -> None:
        """Hand over to the sink; map its failures to statuses exporters retry (or not) correctly."""
        try:
            export(request)
        except BackpressureError as exc:
            delay = Duration()
            delay.FromNanoseconds(round(max(0.0, exc.retry_after_s) * 1e9))
            raise RequestRejected(
                503,
                code_pb2.UNAVAILABLE,
                str(exc),
                headers={"Retry-After": _retry_after(exc)},
                details=[error_details_pb2.RetryInfo(retry_delay=delay)],
            ) from None
        except InvalidInputError as exc:
            raise RequestRejected(400, code_pb2.INVALID_ARGUMENT, str(exc)) from None
        except Exception as exc:
            if isinstance(exc, TrajotelError):
                log.warning("storing OTLP %s failed: %s", what, exc)
            else:
                log.exception("storing OTLP %s failed", what)
            raise RequestRejected(
                503, code_pb2.UNAVAILABLE, f"{what} not stored, retry later: {exc}"
            ) from None

    # -- responses --

    def _encoded(self, status: int, message: Message, content_type: str) -> HttpResponse:
        if content_type == JSON:
            return HttpResponse(status, JSON, otlp_json.encode(message))
        return HttpResponse(status, PROTOBUF, message.SerializeToString())

    def _send_status(self, rejection: RequestRejected) -> None:
        status = status_pb2.Status(code=rejection.code, message=rejection.message)
        for detail in rejection.details:
            packed = AnyProto()
            packed.Pack(detail)
            status.details.append(packed)
        content_type = media_type(self.headers.get("Content-Type"))
        # OTLP clients get the Status in their own encoding; anyone else (curl) gets JSON.
        response = self._encoded(rejection.status, status, PROTOBUF if content_type == PROTOBUF else JSON)
        response.headers.update(rejection.headers)
        if rejection.close:
            self.close_connection = True
        self._send(response)

    def _send(self, response: HttpResponse) -> None:
        if self._body.state == "unread" and not self._body.discard(self.headers):
            self.close_connection = True
        if self._body.state == "broken" or self._body.must_close:
            self.close_connection = True
        if self.server.stopping:
            self.close_connection = True
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)
        self.wfile.flush()
        if self._body.state == "broken":
            self._body.linger(self.connection)


def _retry_after(exc: BackpressureError) -> str:
    return str(max(0, math.ceil(exc.retry_after_s)))


# --- the server -------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a stuck client must not keep the process alive
    block_on_close = False

    def __init__(
        self,
        address: tuple[str, int],
        sink: ExportSink,
        max_bytes: int,
        routes: Mapping[tuple[str, str], Route],
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.sink = sink
        self.max_bytes = max_bytes
        self.stopping = False
        self._lock = threading.Condition()
        self._connections: dict[socket.socket, bool] = {}  # socket -> busy
        builtin: dict[tuple[str, str], Callable[[_Handler, str, str], HttpResponse]] = {
            ("POST", "/v1/traces"): _Handler._otlp_traces,
            ("POST", "/v1/logs"): _Handler._otlp_logs,
            ("POST", "/v1/metrics"): _Handler._otlp_metrics,
            ("GET", "/healthz"): _Handler._health,
        }
        # Paths with ``{name}`` segments are matched segment by segment, in the order given.
        self.patterns: list[tuple[str, tuple[str, ...], Route]] = []
        for (method, path), route in routes.items():
            if "{" in path:
                self.patterns.append((method.upper(), tuple(path.strip("/").split("/")), route))
            else:
                builtin[(method.upper(), path)] = _bind_custom(route)
        self.routes = builtin
        super().__init__(address, _Handler)

    def _pattern_params(self, segments: tuple[str, ...], path: str) -> dict[str, str] | None:
        parts = path.strip("/").split("/")
        if len(parts) != len(segments):
            return None
        params = {}
        for segment, part in zip(segments, parts, strict=True):
            if segment.startswith("{") and segment.endswith("}"):
                if not part:
                    return None
                params[segment[1:-1]] = unquote(part)
            elif segment != part:
                return None
        return params

    def match_pattern(self, method: str, path: str) -> Callable[[_Handler, str, str], HttpResponse] | None:
        for route_method, segments, route in self.patterns:
            if route_method == method:
                params = self._pattern_params(segments, path)
                if params is not None:
                    return lambda handler, p, q, route=route, params=params: handler._custom(
                        route, p, q, params
                    )
        return None

    def pattern_paths(self) -> set[str]:
        return {"/" + "/".join(segments) for _, segments, _ in self.patterns}

    def pattern_methods(self, path: str) -> list[str]:
        return sorted(
            {m for m, segments, _ in self.patterns if self._pattern_params(segments, path) is not None}
        )

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN (a reverse DNS lookup that can stall
        # start-up for seconds); we never use it.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def track(self, conn: socket.socket, *, busy: bool) -> None:
        with self._lock:
            self._connections[conn] = busy
            self._lock.notify_all()

    def untrack(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.pop(conn, None)
            self._lock.notify_all()

    def close_idle(self, grace: float) -> None:
        """Drop idle keep-alive connections; give busy ones ``grace`` seconds to answer."""
        with self._lock:
            self.stopping = True
            self._lock.wait_for(lambda: not any(self._connections.values()), timeout=grace)
            for conn in self._connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)  # wakes the handler thread blocked in recv


def _bind_custom(route: Route) -> Callable[[_Handler, str, str], HttpResponse]:
    def call(handler: _Handler, path: str, query: str) -> HttpResponse:
        return handler._custom(route, path, query)

    return call


class HttpReceiver:
    """OTLP/HTTP server on ``config.host:config.http_port`` handing accepted data to ``sink``.

    ``routes`` adds endpoints, e.g. ``{("POST", "/v1/query"): handle_query}``; each is called with
    an ``HttpRequest`` and returns an ``HttpResponse``. A ``TrajotelError`` it raises becomes a
    JSON ``{"error", "hint"}`` answer (404 for NotFoundError, 503 for BackpressureError, else 400).
    """

    def __init__(
        self,
        sink: ExportSink,
        config: ReceiveConfig,
        routes: Mapping[tuple[str, str], Route] | None = None,
    ) -> None:
        self._sink = sink
        self._config = config
        self._routes = dict(routes or {})
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    def start(self) -> int:
        """Bind and serve in a background thread; returns the bound port (for ``http_port`` 0)."""
        if self._server is not None:
            raise RuntimeError("HttpReceiver already started")
        address = (self._config.host, self._config.http_port)
        try:
            server = _Server(address, self._sink, self._config.max_request_bytes, self._routes)
        except OSError as exc:
            raise TrajotelError(
                f"cannot listen for OTLP/HTTP on {address[0]}:{address[1]}: {exc.strerror or exc}",
                hint="is another collector running? choose another port with receive.http_port",
            ) from None
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, name="trajotel-http", kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        log.info("OTLP/HTTP receiver listening on %s:%s", self._config.host, self.port)
        return self.port

    def stop(self, grace: float = 5.0) -> None:
        """Stop accepting; requests in flight get ``grace`` seconds to finish, idle connections close."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()  # returns once serve_forever has exited
        server.server_close()
        server.close_idle(grace)
        if self._thread is not None:
            self._thread.join()
            self._thread = None
