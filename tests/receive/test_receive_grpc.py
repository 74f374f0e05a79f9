"""OTLP/gRPC receiver against the official exporters and a raw stub."""

from __future__ import annotations

import gzip

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.sdk._logs.export import LogRecordExportResult
from opentelemetry.sdk.trace.export import SpanExportResult
from receive_helpers import (
    PARENT_ID,
    TRACE_ID,
    assert_logs_match,
    assert_spans_match,
    logs_request,
    make_telemetry,
    span,
    trace_request,
)

from trajotel.config import ReceiveConfig
from trajotel.errors import BackpressureError, StoreError, TrajotelError
from trajotel.receive import GrpcReceiver


@pytest.fixture
def channel(grpc_port: int):
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as ch:
        yield ch


@pytest.mark.parametrize("compression", [grpc.Compression.NoCompression, grpc.Compression.Gzip])
def test_official_exporters_deliver_spans_and_logs(sink, grpc_port, compression):
    spans, logs = make_telemetry()
    endpoint = f"127.0.0.1:{grpc_port}"
    span_exporter = OTLPSpanExporter(endpoint=endpoint, insecure=True, compression=compression)
    log_exporter = OTLPLogExporter(endpoint=endpoint, insecure=True, compression=compression)
    try:
        assert span_exporter.export(spans) == SpanExportResult.SUCCESS
        assert log_exporter.export(logs) == LogRecordExportResult.SUCCESS
    finally:
        span_exporter.shutdown()
        log_exporter.shutdown()
    assert_spans_match(spans, sink.spans())
    assert_logs_match(logs, sink.log_records())
    resource = sink.traces[0].resource_spans[0].resource
    assert (
        KeyValue(key="service.name", value=AnyValue(string_value="agent-under-test")) in resource.attributes
    )


def test_invalid_ids_get_partial_success_and_valid_spans_are_stored(sink, channel):
    stub = trace_service_pb2_grpc.TraceServiceStub(channel)
    request = trace_request(
        span("good", parent=PARENT_ID),
        span("chat gpt-4o", trace_id=b"\x01\x02\x03"),
        span("zero span id", span_id=bytes(8)),
        scope="x",
    )
    response = stub.Export(request)
    assert response.partial_success.rejected_spans == 2
    message = response.partial_success.error_message
    assert 'span "chat gpt-4o" (resource 0, scope "x"): trace_id is 3 bytes, must be 16' in message
    assert 'span "zero span id" (resource 0, scope "x"): span_id is all zeros' in message
    assert [s.name for s in sink.spans()] == ["good"]


def test_all_valid_answers_without_partial_success(sink, channel):
    response = trace_service_pb2_grpc.TraceServiceStub(channel).Export(trace_request(span("ok")))
    assert not response.HasField("partial_success")
    assert [s.name for s in sink.spans()] == ["ok"]


def test_logs_with_bad_ids_get_partial_success(sink, channel):
    stub = logs_service_pb2_grpc.LogsServiceStub(channel)
    good = LogRecord(body=AnyValue(string_value="fine"))
    bad = LogRecord(body=AnyValue(string_value="bad"), trace_id=TRACE_ID, span_id=b"\x01")
    response = stub.Export(logs_request(good, bad, scope="s"))
    assert response.partial_success.rejected_log_records == 1
    assert 'log record 1 (resource 0, scope "s"): span_id is 1 bytes, must be 8' in (
        response.partial_success.error_message
    )
    assert [r.body.string_value for r in sink.log_records()] == ["fine"]


def test_backpressure_is_resource_exhausted_with_retry_info(sink, channel):
    stub = trace_service_pb2_grpc.TraceServiceStub(channel)
    stub.Export(trace_request(span("before")))
    sink.fail_next(BackpressureError("spool is full", retry_after_s=2.5))
    with pytest.raises(grpc.RpcError) as caught:
        stub.Export(trace_request(span("refused", span_id=PARENT_ID)))
    error = caught.value
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "spool is full" in error.details()
    trailers = dict(error.trailing_metadata())
    status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
    assert status.code == code_pb2.RESOURCE_EXHAUSTED
    retry = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(retry)
    assert retry.retry_delay.ToMilliseconds() == 2500
    assert error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"]) == retry
    # Nothing of the refused request was stored, the earlier data is intact, the server still works.
    assert [s.name for s in sink.spans()] == ["before"]
    stub.Export(trace_request(span("after")))
    assert [s.name for s in sink.spans()] == ["before", "after"]


def test_official_exporter_retries_after_backpressure(sink, grpc_port):
    spans, _ = make_telemetry()
    sink.fail_next(BackpressureError("spool is full", retry_after_s=0.01))
    exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True)
    try:
        assert exporter.export(spans) == SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert_spans_match(spans, sink.spans())


@pytest.mark.parametrize(
    "error", [StoreError("clickhouse is down"), OSError("disk full"), TrajotelError("spool closed")]
)
def test_other_sink_failures_are_unavailable(sink, channel, error):
    stub = trace_service_pb2_grpc.TraceServiceStub(channel)
    sink.fail_next(error)
    with pytest.raises(grpc.RpcError) as caught:
        stub.Export(trace_request(span("lost")))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert str(error) in caught.value.details()
    assert sink.spans() == []
    stub.Export(trace_request(span("kept")))
    assert [s.name for s in sink.spans()] == ["kept"]


def test_metrics_are_unimplemented_with_advice(channel):
    stub = metrics_service_pb2_grpc.MetricsServiceStub(channel)
    with pytest.raises(grpc.RpcError) as caught:
        stub.Export(metrics_service_pb2.ExportMetricsServiceRequest())
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "OTEL_METRICS_EXPORTER=none" in caught.value.details()


def _big_request(size: int):
    filler = KeyValue(key="blob", value=AnyValue(string_value="x" * size))
    s = span("big")
    s.attributes.append(filler)
    return trace_request(s)


def test_oversized_message_is_refused_by_grpc(sink, channel, receive_config):
    stub = trace_service_pb2_grpc.TraceServiceStub(channel)
    with pytest.raises(grpc.RpcError) as caught:
        stub.Export(_big_request(receive_config.max_request_bytes + 1000))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # A gzip bomb: tiny on the wire, over the limit once decompressed.
    compressed = _big_request(receive_config.max_request_bytes * 4)
    assert len(gzip.compress(compressed.SerializeToString())) < receive_config.max_request_bytes
    with pytest.raises(grpc.RpcError) as caught:
        stub.Export(compressed, compression=grpc.Compression.Gzip)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert sink.spans() == []
    stub.Export(trace_request(span("small")))
    assert [s.name for s in sink.spans()] == ["small"]


def test_empty_request_is_accepted_without_touching_the_sink(sink, channel):
    sink.fail_next(BackpressureError("would refuse"))
    response = trace_service_pb2_grpc.TraceServiceStub(channel).Export(trace_request())
    assert not response.HasField("partial_success")
    assert sink.traces == []


def test_busy_port_is_a_clear_error(sink, grpc_port):
    config = ReceiveConfig(host="127.0.0.1", grpc_port=grpc_port)
    with pytest.raises(TrajotelError, match=f"cannot listen for OTLP/gRPC on 127.0.0.1:{grpc_port}"):
        GrpcReceiver(sink, config).start()
