"""OTLP/HTTP receiver: official exporters, hand-made requests, and every error path.

Error tests send a good request on the same connection afterwards: the server must never leave a
keep-alive connection out of sync, and data accepted earlier must be untouched.
"""

from __future__ import annotations

import gzip
import http.client
import json
import socket
from collections.abc import Iterator

import pytest
from google.rpc import code_pb2, error_details_pb2
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.sdk._logs.export import LogRecordExportResult
from opentelemetry.sdk.trace.export import SpanExportResult
from receive_helpers import (
    JSON,
    PARENT_ID,
    PROTOBUF,
    SPAN_ID,
    TRACE_ID,
    assert_logs_match,
    assert_spans_match,
    attributes,
    logs_request,
    make_telemetry,
    post,
    span,
    trace_request,
)

from trajotel.config import ReceiveConfig
from trajotel.errors import BackpressureError, NotFoundError, StoreError, TrajotelError
from trajotel.receive import HttpReceiver, HttpRequest, HttpResponse


@pytest.fixture
def conn(http_port: int) -> Iterator[http.client.HTTPConnection]:
    connection = http.client.HTTPConnection("127.0.0.1", http_port, timeout=30)
    yield connection
    connection.close()


def _json_span(name: str, trace_id: str = TRACE_ID.hex(), span_id: str = SPAN_ID.hex()) -> dict:
    return {"traceId": trace_id, "spanId": span_id, "name": name, "kind": 1}


def _json_traces(*spans: dict) -> bytes:
    return json.dumps(
        {"resourceSpans": [{"scopeSpans": [{"scope": {"name": "x"}, "spans": list(spans)}]}]}
    ).encode()


def _good(conn: http.client.HTTPConnection, sink, name: str) -> None:
    """A valid request on ``conn`` is accepted and lands in the sink after what was there."""
    before = [s.name for s in sink.spans()]
    reply = post(conn, "/v1/traces", trace_request(span(name)).SerializeToString())
    assert reply.status == 200, reply.body
    assert [s.name for s in sink.spans()] == [*before, name]


def _still_keep_alive(conn: http.client.HTTPConnection, sink, name: str = "after") -> None:
    sock = conn.sock
    assert sock is not None, "the server closed a connection it could have kept"
    _good(conn, sink, name)
    assert conn.sock is sock


# --- the official exporters -----------------------------------------------------------------------


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_official_exporters_deliver_spans_and_logs(sink, http_port, compression):
    spans, logs = make_telemetry()
    base = f"http://127.0.0.1:{http_port}"
    span_exporter = OTLPSpanExporter(endpoint=f"{base}/v1/traces", compression=compression)
    log_exporter = OTLPLogExporter(endpoint=f"{base}/v1/logs", compression=compression)
    try:
        assert span_exporter.export(spans) == SpanExportResult.SUCCESS
        assert log_exporter.export(logs) == LogRecordExportResult.SUCCESS
    finally:
        span_exporter.shutdown()
        log_exporter.shutdown()
    assert_spans_match(spans, sink.spans())
    assert_logs_match(logs, sink.log_records())


def test_official_exporter_retries_after_backpressure(sink, http_port):
    spans, _ = make_telemetry()
    sink.fail_next(BackpressureError("spool is full", retry_after_s=0))  # Retry-After: 0, no wait
    exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{http_port}/v1/traces")
    try:
        assert exporter.export(spans) == SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert_spans_match(spans, sink.spans())


# --- hand-made requests ---------------------------------------------------------------------------


def test_json_request_is_decoded_and_answered_in_json(sink, conn):
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "js-agent"}}]},
                "scopeSpans": [
                    {
                        "scope": {"name": "x"},
                        "spans": [
                            {
                                "traceId": TRACE_ID.hex(),
                                "spanId": SPAN_ID.hex(),
                                "parentSpanId": PARENT_ID.hex(),
                                "name": "chat",
                                "kind": 3,
                                "startTimeUnixNano": "1700000000000000000",
                                "attributes": [
                                    {"key": "tokens", "value": {"intValue": "7"}},
                                    {
                                        "key": "tags",
                                        "value": {"arrayValue": {"values": [{"stringValue": "a"}]}},
                                    },
                                    {
                                        "key": "kv",
                                        "value": {
                                            "kvlistValue": {
                                                "values": [{"key": "k", "value": {"intValue": 1}}]
                                            }
                                        },
                                    },
                                ],
                            }
                        ],
                    }
                ],
            }
        ]
    }
    reply = post(conn, "/v1/traces", json.dumps(body).encode(), "application/json; charset=utf-8")
    assert reply.status == 200
    assert reply.content_type == JSON
    assert json.loads(reply.body) == {}
    (got,) = sink.spans()
    assert (got.trace_id, got.span_id, got.parent_span_id, got.kind) == (TRACE_ID, SPAN_ID, PARENT_ID, 3)
    assert got.start_time_unix_nano == 1700000000000000000
    assert attributes(got.attributes) == {"tokens": 7, "tags": ["a"], "kv": {"k": 1}}
    resource = sink.traces[0].resource_spans[0].resource
    assert attributes(resource.attributes) == {"service.name": "js-agent"}


def _chunks(data: bytes, size: int = 7) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def test_chunked_json_and_chunked_protobuf(sink, conn):
    # What the OpenTelemetry JS exporters send: Transfer-Encoding: chunked, no Content-Length.
    reply = post(conn, "/v1/traces", _chunks(_json_traces(_json_span("json chunked"))), JSON, chunked=True)
    assert reply.status == 200
    proto = trace_request(span("proto chunked")).SerializeToString()
    reply = post(conn, "/v1/traces", _chunks(proto), PROTOBUF, chunked=True)
    assert reply.status == 200
    assert reply.content_type == PROTOBUF
    assert ExportTraceServiceResponse.FromString(reply.body) == ExportTraceServiceResponse()
    assert [s.name for s in sink.spans()] == ["json chunked", "proto chunked"]
    _still_keep_alive(conn, sink)


def test_gzip_json_also_chunked(sink, conn):
    body = gzip.compress(_json_traces(_json_span("gzip json")))
    reply = post(conn, "/v1/traces", body, JSON, {"Content-Encoding": "gzip"})
    assert reply.status == 200
    reply = post(conn, "/v1/traces", _chunks(body, 5), JSON, {"Content-Encoding": "gzip"}, chunked=True)
    assert reply.status == 200
    assert [s.name for s in sink.spans()] == ["gzip json", "gzip json"]


def test_logs_in_json_and_protobuf(sink, conn):
    body = {
        "resourceLogs": [
            {"scopeLogs": [{"logRecords": [{"body": {"stringValue": "hi"}, "spanId": "01" * 8}]}]}
        ]
    }
    reply = post(conn, "/v1/logs", json.dumps(body).encode(), JSON)
    assert reply.status == 200
    assert json.loads(reply.body) == {}
    request = logs_request(LogRecord(body=AnyValue(string_value="proto")))
    reply = post(conn, "/v1/logs", request.SerializeToString(), PROTOBUF)
    assert reply.status == 200
    assert ExportLogsServiceResponse.FromString(reply.body) == ExportLogsServiceResponse()
    records = sink.log_records()
    assert [r.body.string_value for r in records] == ["hi", "proto"]
    assert records[0].span_id == b"\x01" * 8


def test_empty_body_and_empty_request_are_ok(sink, conn):
    assert post(conn, "/v1/traces", b"", PROTOBUF).status == 200
    assert post(conn, "/v1/traces", b"", JSON).status == 200
    assert post(conn, "/v1/logs", b"{}", JSON).status == 200
    assert post(conn, "/v1/traces", trace_request().SerializeToString(), PROTOBUF).status == 200
    assert sink.traces == [] and sink.logs == []
    _still_keep_alive(conn, sink)


def test_healthz(conn):
    conn.request("GET", "/healthz")
    response = conn.getresponse()
    assert (response.status, response.read()) == (200, b"ok\n")


def test_many_requests_share_one_connection(sink, conn):
    _good(conn, sink, "first")
    sock = conn.sock
    for i in range(20):
        _good(conn, sink, f"span {i}")
    assert conn.sock is sock


# --- partial success ------------------------------------------------------------------------------


def test_invalid_ids_partial_success_protobuf(sink, conn):
    request = trace_request(span("good"), span("chat gpt-4o", trace_id=b"\x01\x02\x03"), scope="x")
    reply = post(conn, "/v1/traces", request.SerializeToString(), PROTOBUF)
    assert reply.status == 200
    response = ExportTraceServiceResponse.FromString(reply.body)
    assert response.partial_success.rejected_spans == 1
    assert 'span "chat gpt-4o" (resource 0, scope "x"): trace_id is 3 bytes, must be 16' in (
        response.partial_success.error_message
    )
    assert [s.name for s in sink.spans()] == ["good"]


def test_invalid_ids_partial_success_json(sink, conn):
    body = _json_traces(_json_span("ok"), _json_span("no span id", span_id=""), _json_span("zero", "0" * 32))
    reply = post(conn, "/v1/traces", body, JSON)
    assert reply.status == 200
    partial = json.loads(reply.body)["partialSuccess"]
    assert partial["rejectedSpans"] == "2"
    assert 'span "no span id" (resource 0, scope "x"): span_id is missing' in partial["errorMessage"]
    assert 'span "zero" (resource 0, scope "x"): trace_id is all zeros' in partial["errorMessage"]
    assert [s.name for s in sink.spans()] == ["ok"]


def test_invalid_log_ids_partial_success(sink, conn):
    request = logs_request(LogRecord(trace_id=b"\x01"), LogRecord(body=AnyValue(string_value="kept")))
    reply = post(conn, "/v1/logs", request.SerializeToString(), PROTOBUF)
    assert reply.status == 200
    response = ExportLogsServiceResponse.FromString(reply.body)
    assert response.partial_success.rejected_log_records == 1
    assert "log record 0" in response.partial_success.error_message
    assert [r.body.string_value for r in sink.log_records()] == ["kept"]


# --- bad input ------------------------------------------------------------------------------------


def test_malformed_protobuf_is_400_with_protobuf_status(sink, conn):
    _good(conn, sink, "before")
    reply = post(conn, "/v1/traces", b"\x0a\xff\xff\xff\xff\x0f", PROTOBUF)
    assert reply.status == 400
    assert reply.content_type == PROTOBUF
    status = reply.status_message()
    assert status.code == code_pb2.INVALID_ARGUMENT
    assert "not a valid protobuf ExportTraceServiceRequest" in status.message
    _still_keep_alive(conn, sink)


def test_malformed_json_is_400_with_json_status(sink, conn):
    _good(conn, sink, "before")
    reply = post(conn, "/v1/traces", b'{"resourceSpans": [', JSON)
    assert reply.status == 400
    assert reply.content_type == JSON
    status = reply.status_message()
    assert status.code == code_pb2.INVALID_ARGUMENT
    assert "body is not valid JSON" in status.message
    _still_keep_alive(conn, sink)


def test_json_with_bad_hex_id_names_the_span(sink, conn):
    _good(conn, sink, "before")
    body = _json_traces(_json_span("ok"), _json_span("chat", trace_id="W47/95gDgQPSabYzgT/GDA=="))
    reply = post(conn, "/v1/traces", body, JSON)
    assert reply.status == 400
    message = reply.status_message().message
    assert 'span "chat" (resourceSpans[0].scopeSpans[0].spans[1]): traceId' in message
    assert "not valid hex" in message and "not base64" in message
    _still_keep_alive(conn, sink)  # and "ok" from the rejected request was not stored


@pytest.mark.parametrize("content_type", ["text/plain", "application/protobuf", None])
def test_wrong_content_type_is_415(sink, conn, content_type):
    _good(conn, sink, "before")
    reply = post(conn, "/v1/traces", trace_request(span("x")).SerializeToString(), content_type)
    assert reply.status == 415
    message = reply.status_message().message
    assert "application/x-protobuf" in message and "application/json" in message
    _still_keep_alive(conn, sink)


def test_unsupported_content_encoding_is_415(sink, conn):
    _good(conn, sink, "before")
    reply = post(conn, "/v1/traces", b"\x00\x01", PROTOBUF, {"Content-Encoding": "br"})
    assert reply.status == 415
    assert (
        reply.status_message().message == "Content-Encoding br is not supported; use gzip or identity (none)"
    )
    _still_keep_alive(conn, sink)


def test_corrupt_gzip_is_400(sink, conn):
    reply = post(conn, "/v1/traces", b"not gzip at all", PROTOBUF, {"Content-Encoding": "gzip"})
    assert reply.status == 400
    assert "not valid gzip" in reply.status_message().message
    truncated = gzip.compress(trace_request(span("x")).SerializeToString())[:-8]
    reply = post(conn, "/v1/traces", truncated, PROTOBUF, {"Content-Encoding": "gzip"})
    assert reply.status == 400
    _still_keep_alive(conn, sink)


def test_oversized_body_with_content_length_is_413(sink, conn, receive_config):
    _good(conn, sink, "before")
    reply = post(conn, "/v1/traces", b"\x00" * (receive_config.max_request_bytes + 1), PROTOBUF)
    assert reply.status == 413
    assert "receive.max_request_bytes" in reply.status_message().message
    assert reply.headers["connection"] == "close"  # the unread body cannot be skipped cheaply
    _good(conn, sink, "after")  # http.client reconnects; the server is fine


def test_oversized_chunked_body_is_413(sink, conn, receive_config):
    _good(conn, sink, "before")
    chunks = (b"\x00" * 65536 for _ in range(2 * receive_config.max_request_bytes // 65536))
    reply = post(conn, "/v1/traces", chunks, PROTOBUF, chunked=True)
    assert reply.status == 413
    assert reply.headers["connection"] == "close"
    _good(conn, sink, "after")


def test_gzip_bomb_is_413_and_connection_stays_usable(sink, conn, receive_config):
    _good(conn, sink, "before")
    bomb = gzip.compress(b"\x00" * (receive_config.max_request_bytes * 16))
    assert len(bomb) < receive_config.max_request_bytes
    reply = post(conn, "/v1/traces", bomb, PROTOBUF, {"Content-Encoding": "gzip"})
    assert reply.status == 413
    assert "decompressed body exceeds" in reply.status_message().message
    _still_keep_alive(conn, sink)  # the compressed body was read in full


def test_oversized_body_refused_before_100_continue(sink, http_port, receive_config):
    with socket.create_connection(("127.0.0.1", http_port), timeout=30) as raw:
        raw.sendall(
            b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
            + f"Content-Length: {receive_config.max_request_bytes * 10}\r\n".encode()
            + b"Expect: 100-continue\r\n\r\n"
        )
        response = http.client.HTTPResponse(raw)
        response.begin()
        assert response.status == 413  # not "100 Continue": the client never sends the body
        assert response.getheader("Connection") == "close"


def test_malformed_chunk_framing_is_400_and_closes(sink, http_port):
    with socket.create_connection(("127.0.0.1", http_port), timeout=30) as raw:
        raw.sendall(
            b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
            b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
        )
        response = http.client.HTTPResponse(raw)
        response.begin()
        assert response.status == 400
        assert "malformed chunked body" in response.read().decode("utf-8", "replace")
        assert response.getheader("Connection") == "close"
    assert sink.spans() == []


def test_unknown_endpoint_is_404(sink, conn):
    _good(conn, sink, "before")
    reply = post(conn, "/v1/trace", b"x" * 100, PROTOBUF)
    assert reply.status == 404
    status = reply.status_message()
    assert status.code == code_pb2.NOT_FOUND
    assert "no endpoint /v1/trace" in status.message and "/v1/traces" in status.message
    _still_keep_alive(conn, sink)


def test_wrong_method_is_405_with_allow(sink, conn):
    _good(conn, sink, "before")
    reply = post(conn, "/v1/traces", None, None, method="GET")
    assert reply.status == 405
    assert reply.headers["allow"] == "POST"
    assert "GET is not allowed on /v1/traces" in reply.status_message().message
    reply = post(conn, "/healthz", None, None, method="HEAD")  # no body may follow a HEAD answer
    assert (reply.status, reply.headers["allow"], reply.body) == (405, "GET", b"")
    _still_keep_alive(conn, sink)


def test_metrics_is_501_with_advice(sink, conn):
    reply = post(conn, "/v1/metrics", b"\x0a\x00", PROTOBUF)
    assert reply.status == 501
    assert reply.content_type == PROTOBUF
    status = reply.status_message()
    assert status.code == code_pb2.UNIMPLEMENTED
    assert "metrics are not stored" in status.message and "OTEL_METRICS_EXPORTER=none" in status.message
    _still_keep_alive(conn, sink)


# --- sink failures --------------------------------------------------------------------------------


def test_backpressure_is_503_with_retry_after(sink, conn):
    _good(conn, sink, "before")
    sink.fail_next(BackpressureError("spool is full", retry_after_s=2.5))
    reply = post(conn, "/v1/traces", trace_request(span("refused")).SerializeToString(), PROTOBUF)
    assert reply.status == 503
    assert reply.headers["retry-after"] == "3"
    status = reply.status_message()
    assert status.code == code_pb2.UNAVAILABLE
    assert status.message == "spool is full"
    retry = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(retry) and retry.retry_delay.ToMilliseconds() == 2500
    _still_keep_alive(conn, sink)
    assert [s.name for s in sink.spans()] == ["before", "after"]


def test_backpressure_json_status(sink, conn):
    sink.fail_next(BackpressureError("spool is full", retry_after_s=1))
    reply = post(
        conn, "/v1/logs", json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [{}]}]}]}), JSON
    )
    assert reply.status == 503
    assert reply.headers["retry-after"] == "1"
    assert json.loads(reply.body)["message"] == "spool is full"
    assert sink.logs == []


@pytest.mark.parametrize("error", [StoreError("clickhouse is down"), RuntimeError("bug in the spool")])
def test_other_sink_failures_are_503_not_acknowledged(sink, conn, error):
    _good(conn, sink, "before")
    sink.fail_next(error)
    reply = post(conn, "/v1/traces", trace_request(span("lost")).SerializeToString(), PROTOBUF)
    assert reply.status == 503
    assert "retry-after" not in reply.headers
    assert str(error) in reply.status_message().message
    _still_keep_alive(conn, sink)
    assert [s.name for s in sink.spans()] == ["before", "after"]


# --- extra routes ---------------------------------------------------------------------------------


@pytest.fixture
def routed(sink, receive_config) -> Iterator[tuple[http.client.HTTPConnection, list[HttpRequest]]]:
    seen: list[HttpRequest] = []

    def query(request: HttpRequest) -> HttpResponse:
        seen.append(request)
        what = request.query.get("fail")
        if what == "invalid":
            raise TrajotelError("bad query", hint="try SELECT 1")
        if what == "missing":
            raise NotFoundError("no trajectory t-1")
        if what == "bug":
            raise ZeroDivisionError("oops")
        return HttpResponse.json({"rows": [1]}, headers={"X-Rows": "1"})

    def feedback(request: HttpRequest) -> HttpResponse:
        seen.append(request)
        return HttpResponse.json({"params": request.params})

    routes = {
        ("POST", "/v1/query"): query,
        ("POST", "/v1/trajectories/{id}/feedback"): feedback,
        ("DELETE", "/v1/trajectories/{id}"): feedback,
    }
    receiver = HttpReceiver(sink, receive_config, routes=routes)
    port = receiver.start()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    yield connection, seen
    connection.close()
    receiver.stop()


def test_extra_route_gets_the_decoded_request(routed):
    conn, seen = routed
    reply = post(
        conn, "/v1/query?limit=5&x=", gzip.compress(b"SELECT 1"), "text/plain", {"Content-Encoding": "gzip"}
    )
    assert (reply.status, reply.content_type, reply.headers["x-rows"]) == (200, "application/json", "1")
    assert json.loads(reply.body) == {"rows": [1]}
    (request,) = seen
    assert (request.method, request.path, request.query, request.body) == (
        "POST",
        "/v1/query",
        {"limit": "5", "x": ""},
        b"SELECT 1",
    )
    assert request.headers["content-type"] == "text/plain"


@pytest.mark.parametrize(
    ("fail", "status", "expected"),
    [
        ("invalid", 400, {"error": "bad query", "hint": "try SELECT 1"}),
        ("missing", 404, {"error": "no trajectory t-1", "hint": None}),
        ("bug", 500, {"error": "internal error in POST /v1/query", "hint": None}),
    ],
)
def test_extra_route_errors(sink, routed, fail, status, expected):
    conn, _ = routed
    reply = post(conn, f"/v1/query?fail={fail}", b"q", "text/plain")
    assert (reply.status, json.loads(reply.body)) == (status, expected)
    _still_keep_alive(conn, sink)


def test_extra_route_wrong_method_and_oversized_body(sink, routed, receive_config):
    conn, _ = routed
    reply = post(conn, "/v1/query", None, None, method="GET")
    assert (reply.status, reply.headers["allow"]) == (405, "POST")
    reply = post(conn, "/v1/query", b"q" * (receive_config.max_request_bytes + 1), "text/plain")
    assert reply.status == 413
    _good(conn, sink, "after")


def test_extra_route_with_path_parameters(sink, routed):
    conn, seen = routed
    reply = post(conn, "/v1/trajectories/abc%2Fdef/feedback?x=1", b"{}", "application/json")
    assert (reply.status, json.loads(reply.body)) == (200, {"params": {"id": "abc/def"}})
    assert seen[-1].query == {"x": "1"}
    reply = post(conn, "/v1/trajectories/t-1", None, None, method="DELETE")
    assert json.loads(reply.body) == {"params": {"id": "t-1"}}
    # A pattern's other methods are offered; a path no pattern matches is unknown.
    reply = post(conn, "/v1/trajectories/t-1/feedback", None, None, method="GET")
    assert (reply.status, reply.headers["allow"]) == (405, "POST")
    for path in ("/v1/trajectories//feedback", "/v1/trajectories/t-1/feedback/more"):
        reply = post(conn, path, b"{}", "application/json")
        assert reply.status == 404
        assert "/v1/trajectories/{id}/feedback" in json.loads(reply.body)["message"]
    _still_keep_alive(conn, sink)


# --- lifecycle ------------------------------------------------------------------------------------


def test_stop_closes_idle_keep_alive_connections_and_frees_the_port(sink, receive_config):
    receiver = HttpReceiver(sink, receive_config)
    port = receiver.start()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    _good(conn, sink, "one")
    receiver.stop()  # returns although the client keeps its connection open
    assert conn.sock is not None and conn.sock.recv(1) == b""  # the server closed it
    conn.close()
    again = HttpReceiver(sink, ReceiveConfig(host="127.0.0.1", http_port=port))
    assert again.start() == port
    again.stop()


def test_busy_port_is_a_clear_error(sink, http_port):
    with pytest.raises(TrajotelError, match=f"cannot listen for OTLP/HTTP on 127.0.0.1:{http_port}"):
        HttpReceiver(sink, ReceiveConfig(host="127.0.0.1", http_port=http_port)).start()
