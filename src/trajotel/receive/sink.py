"""What the receivers hand accepted data to.

A receiver decodes and validates a request, drops the spans it must reject (reported back to
the exporter as OTLP partial success), and passes the rest to an ``ExportSink``. The sink
returns only once the data is durable, so the receiver may then acknowledge the export.
"""

from __future__ import annotations

from typing import Protocol

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


class ExportSink(Protocol):
    def export_traces(self, request: ExportTraceServiceRequest) -> None:
        """Make the request durable. Raises ``BackpressureError`` when the collector is full."""

    def export_logs(self, request: ExportLogsServiceRequest) -> None:
        """Make the request durable. Raises ``BackpressureError`` when the collector is full."""
