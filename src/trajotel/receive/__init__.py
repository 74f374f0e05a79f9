"""OTLP receivers: decode, validate and hand spans and logs to an ``ExportSink``."""

from trajotel.receive.grpc_server import GrpcReceiver
from trajotel.receive.http_server import HttpReceiver, HttpRequest, HttpResponse

__all__ = ["GrpcReceiver", "HttpReceiver", "HttpRequest", "HttpResponse"]
