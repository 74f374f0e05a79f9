"""Fixtures: an in-memory sink and receivers started on ephemeral ports."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from trajotel.config import ReceiveConfig
from trajotel.receive import GrpcReceiver, HttpReceiver

# pytest runs with --import-mode=importlib, which does not put test directories on sys.path;
# the test modules here share receive_helpers.py, so make it importable.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

MAX_REQUEST_BYTES = 256 * 1024  # small, so size-limit tests stay cheap


class RecordingSink:
    """Keeps every request it accepts; ``fail_next`` makes the next calls raise instead."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.traces: list[ExportTraceServiceRequest] = []
        self.logs: list[ExportLogsServiceRequest] = []
        self._failures: list[BaseException] = []

    def fail_next(self, *errors: BaseException) -> None:
        with self._lock:
            self._failures.extend(errors)

    def _maybe_fail(self) -> None:
        with self._lock:
            error = self._failures.pop(0) if self._failures else None
        if error is not None:
            raise error

    def export_traces(self, request: ExportTraceServiceRequest) -> None:
        self._maybe_fail()
        copy = ExportTraceServiceRequest()
        copy.CopyFrom(request)  # the receiver must not rely on us keeping its object
        with self._lock:
            self.traces.append(copy)

    def export_logs(self, request: ExportLogsServiceRequest) -> None:
        self._maybe_fail()
        copy = ExportLogsServiceRequest()
        copy.CopyFrom(request)
        with self._lock:
            self.logs.append(copy)

    def spans(self) -> list[Span]:
        with self._lock:
            return [
                s for r in self.traces for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans
            ]

    def log_records(self) -> list[LogRecord]:
        with self._lock:
            return [
                x for r in self.logs for rl in r.resource_logs for sl in rl.scope_logs for x in sl.log_records
            ]


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def receive_config() -> ReceiveConfig:
    return ReceiveConfig(
        host="127.0.0.1", grpc_port=0, http_port=0, max_request_bytes=MAX_REQUEST_BYTES, grpc_workers=4
    )


@pytest.fixture
def http_port(sink: RecordingSink, receive_config: ReceiveConfig) -> Iterator[int]:
    receiver = HttpReceiver(sink, receive_config)
    port = receiver.start()
    yield port
    receiver.stop()


@pytest.fixture
def grpc_port(sink: RecordingSink, receive_config: ReceiveConfig) -> Iterator[int]:
    receiver = GrpcReceiver(sink, receive_config)
    port = receiver.start()
    yield port
    receiver.stop(grace=None)
