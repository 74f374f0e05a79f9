"""OTLP/gRPC receiver: TraceService/Export and LogsService/Export.

Status codes follow the OTLP spec's retry semantics, because that is what makes exporters retry or
give up correctly:

* accepted (possibly with some items rejected): OK, with ``partial_success`` when items were dropped;
* collector full (``BackpressureError``): RESOURCE_EXHAUSTED carrying a ``google.rpc.RetryInfo``
  detail; the spec makes RESOURCE_EXHAUSTED retryable only when RetryInfo is present;
* any other sink failure: UNAVAILABLE (retryable), since the data was not made durable;
* metrics: UNIMPLEMENTED (not retryable), with a message telling the user how to stop sending them.

Message size limits and gzip decompression are done by grpc itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NoReturn

import grpc
from google.protobuf.any_pb2 import Any as AnyProto
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from trajotel.config import ReceiveConfig
from trajotel.errors import BackpressureError, InvalidInputError, TrajotelError
from trajotel.receive.sink import ExportSink
from trajotel.receive.validate import ValidationResult, validate_logs, validate_traces

log = logging.getLogger(__name__)

METRICS_NOT_STORED = (
    "trajotel stores traces and logs; metrics are not stored: "
    "set OTEL_METRICS_EXPORTER=none or send metrics elsewhere"
)


def retry_info_metadata(code: int, message: str, retry_after_s: float) -> list[tuple[str, bytes]]:
    """Trailers that tell any OTLP exporter when to retry.

    ``grpc-status-details-bin`` (a google.rpc.Status with a RetryInfo detail) is the standard
    place, read by the Go/Java exporters and the Collector. The Python exporter instead reads a bare
    RetryInfo from ``google.rpc.retryinfo-bin``, so both are sent.
    """
    delay = Duration()
    delay.FromNanoseconds(round(max(0.0, retry_after_s) * 1e9))
    retry = error_details_pb2.RetryInfo(retry_delay=delay)
    detail = AnyProto()
    detail.Pack(retry)
    status = status_pb2.Status(code=code, message=message, details=[detail])
    return [
        ("grpc-status-details-bin", status.SerializeToString()),
        ("google.rpc.retryinfo-bin", retry.SerializeToString()),
    ]


def _abort_for(exc: Exception, context: grpc.ServicerContext, signal: str) -> NoReturn:
    """Turn a sink failure into the status code that gives the exporter the right retry behaviour."""
    if isinstance(exc, BackpressureError):
        message = str(exc)
        context.set_trailing_metadata(
            retry_info_metadata(code_pb2.RESOURCE_EXHAUSTED, message, exc.retry_after_s)
        )
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, message)
    if isinstance(exc, InvalidInputError):
        # The sink judged the content itself bad: retrying the same data cannot help.
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    if isinstance(exc, TrajotelError):
        log.warning("storing OTLP %s failed: %s", signal, exc)
    else:
        log.exception("storing OTLP %s failed", signal)
    context.abort(grpc.StatusCode.UNAVAILABLE, f"{signal} not stored, retry later: {exc}")


def _export(
    result: ValidationResult,
    export: Callable[[Any], None],
    response: Message,
    rejected_field: str,
    context: grpc.ServicerContext,
    signal: str,
) -> Any:
    """Hand the accepted part to the sink and answer, with partial success for what was rejected."""
    if result.accepted:
        try:
            export(result.request)
        except Exception as exc:
            _abort_for(exc, context, signal)
    if result.rejected:
        setattr(response.partial_success, rejected_field, result.rejected)
        response.partial_success.error_message = result.error_message
    return response


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, sink: ExportSink) -> None:
        self._sink = sink

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        return _export(
            validate_traces(request),
            self._sink.export_traces,
            trace_service_pb2.ExportTraceServiceResponse(),
            "rejected_spans",
            context,
            "spans",
        )


class _LogsService(logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self, sink: ExportSink) -> None:
        self._sink = sink

    def Export(
        self, request: logs_service_pb2.ExportLogsServiceRequest, context: grpc.ServicerContext
    ) -> logs_service_pb2.ExportLogsServiceResponse:
        return _export(
            validate_logs(request),
            self._sink.export_logs,
            logs_service_pb2.ExportLogsServiceResponse(),
            "rejected_log_records",
            context,
            "log records",
        )


class _MetricsService(metrics_service_pb2_grpc.MetricsServiceServicer):
    def Export(
        self, request: metrics_service_pb2.ExportMetricsServiceRequest, context: grpc.ServicerContext
    ) -> metrics_service_pb2.ExportMetricsServiceResponse:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, METRICS_NOT_STORED)


def _bind_address(host: str, port: int) -> str:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # IPv6 literal
    return f"{host}:{port}"


class GrpcReceiver:
    """OTLP/gRPC server on ``config.host:config.grpc_port`` handing accepted data to ``sink``."""

    def __init__(self, sink: ExportSink, config: ReceiveConfig) -> None:
        self._sink = sink
        self._config = config
        self._server: grpc.Server | None = None
        self._executor: ThreadPoolExecutor | None = None
        self.port: int | None = None

    def start(self) -> int:
        """Bind and serve; returns the bound port (useful when ``grpc_port`` is 0)."""
        if self._server is not None:
            raise RuntimeError("GrpcReceiver already started")
        options: list[tuple[str, Any]] = [
            ("grpc.max_receive_message_length", self._config.max_request_bytes),
            # gRPC sets SO_REUSEPORT by default, which would let a second collector bind the same
            # port and silently receive half the traffic. A busy port must be an error instead.
            ("grpc.so_reuseport", 0),
        ]
        self._executor = ThreadPoolExecutor(
            max_workers=self._config.grpc_workers, thread_name_prefix="trajotel-grpc"
        )
        server = grpc.server(self._executor, options=options)
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceService(self._sink), server)
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(_LogsService(self._sink), server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_MetricsService(), server)
        address = _bind_address(self._config.host, self._config.grpc_port)
        try:
            port = server.add_insecure_port(address)
            failure = "" if port else "address not available"
        except RuntimeError as exc:  # recent grpc raises; older versions returned 0
            port, failure = 0, str(exc)
        if failure:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise TrajotelError(
                f"cannot listen for OTLP/gRPC on {address}: {failure}",
                hint="is another collector running? choose another port with receive.grpc_port",
            )
        server.start()
        self._server = server
        self.port = port
        log.info("OTLP/gRPC receiver listening on %s", _bind_address(self._config.host, port))
        return port

    def stop(self, grace: float | None = 5.0) -> None:
        """Stop accepting calls; in-flight calls get ``grace`` seconds to finish."""
        server, self._server = self._server, None
        if server is not None:
            server.stop(grace).wait()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
