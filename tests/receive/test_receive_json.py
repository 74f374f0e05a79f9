"""OTLP/JSON decoding: hex ids, int enums, string int64s, both key spellings, unknown fields."""

from __future__ import annotations

import json

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from receive_helpers import PARENT_ID, SPAN_ID, TRACE_ID, attributes, value

from trajotel.errors import InvalidInputError
from trajotel.receive.otlp_json import decode_logs, decode_traces, encode

TRACES = {
    "resourceSpans": [
        {
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "agent"}}]},
            "scopeSpans": [
                {
                    "scope": {"name": "openai", "version": "1.0"},
                    "spans": [
                        {
                            "traceId": TRACE_ID.hex().upper(),  # hex is case-insensitive
                            "spanId": SPAN_ID.hex(),
                            "parentSpanId": PARENT_ID.hex(),
                            "name": "chat gpt-4o",
                            "kind": 3,
                            "startTimeUnixNano": "1700000000000000000",
                            "endTimeUnixNano": 1700000001000000000,
                            "attributes": [
                                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}},
                                {"key": "gen_ai.request.temperature", "value": {"doubleValue": 0.5}},
                                {
                                    "key": "gen_ai.response.finish_reasons",
                                    "value": {"arrayValue": {"values": [{"stringValue": "stop"}]}},
                                },
                                {
                                    "key": "meta",
                                    "value": {
                                        "kvlistValue": {
                                            "values": [
                                                {"key": "a", "value": {"boolValue": True}},
                                                {"key": "b", "value": {"bytesValue": "AAE="}},
                                            ]
                                        }
                                    },
                                },
                            ],
                            "events": [{"timeUnixNano": "1700000000500000000", "name": "gen_ai.choice"}],
                            "links": [{"traceId": TRACE_ID.hex(), "spanId": PARENT_ID.hex()}],
                            "status": {"code": 2, "message": "boom"},
                            "someFutureField": {"x": 1},
                        }
                    ],
                }
            ],
        }
    ],
    "unknownTopLevel": [1, 2],
}


def test_decodes_the_otlp_json_mapping():
    request = decode_traces(json.dumps(TRACES).encode())
    rs = request.resource_spans[0]
    assert attributes(rs.resource.attributes) == {"service.name": "agent"}
    scope_spans = rs.scope_spans[0]
    assert (scope_spans.scope.name, scope_spans.scope.version) == ("openai", "1.0")
    s = scope_spans.spans[0]
    assert (s.trace_id, s.span_id, s.parent_span_id) == (TRACE_ID, SPAN_ID, PARENT_ID)
    assert s.kind == Span.SPAN_KIND_CLIENT
    assert (s.start_time_unix_nano, s.end_time_unix_nano) == (1700000000000000000, 1700000001000000000)
    assert attributes(s.attributes) == {
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.request.temperature": 0.5,
        "gen_ai.response.finish_reasons": ["stop"],
        "meta": {"a": True, "b": b"\x00\x01"},  # bytesValue stays base64: only ids are hex
    }
    assert s.events[0].time_unix_nano == 1700000000500000000
    assert (s.links[0].trace_id, s.links[0].span_id) == (TRACE_ID, PARENT_ID)
    assert (s.status.code, s.status.message) == (Status.STATUS_CODE_ERROR, "boom")


def test_accepts_enum_names_and_snake_case_keys():
    body = {
        "resource_spans": [
            {
                "scope_spans": [
                    {
                        "spans": [
                            {
                                "trace_id": TRACE_ID.hex(),
                                "span_id": SPAN_ID.hex(),
                                "parent_span_id": "",
                                "name": "x",
                                "kind": "SPAN_KIND_SERVER",
                                "start_time_unix_nano": 5,
                                "links": [{"trace_id": TRACE_ID.hex(), "span_id": SPAN_ID.hex()}],
                            }
                        ]
                    }
                ]
            }
        ]
    }
    s = decode_traces(json.dumps(body).encode()).resource_spans[0].scope_spans[0].spans[0]
    assert (s.trace_id, s.span_id, s.parent_span_id, s.kind) == (
        TRACE_ID,
        SPAN_ID,
        b"",
        Span.SPAN_KIND_SERVER,
    )
    assert s.start_time_unix_nano == 5
    assert s.links[0].trace_id == TRACE_ID


def test_log_ids_are_hex_and_optional():
    body = {
        "resourceLogs": [
            {
                "scopeLogs": [
                    {
                        "logRecords": [
                            {"body": {"stringValue": "no ids"}, "severityNumber": 9},
                            {"traceId": TRACE_ID.hex(), "spanId": SPAN_ID.hex(), "eventName": "e"},
                        ]
                    }
                ]
            }
        ]
    }
    records = decode_logs(json.dumps(body).encode()).resource_logs[0].scope_logs[0].log_records
    assert value(records[0].body) == "no ids"
    assert records[0].severity_number == 9
    assert (records[1].trace_id, records[1].span_id, records[1].event_name) == (TRACE_ID, SPAN_ID, "e")


def test_empty_body_is_an_empty_request():
    assert decode_traces(b"") == decode_traces(b"{}")
    assert len(decode_traces(b"  ").resource_spans) == 0


def _with_span(**fields):
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "ok"}, fields]}]}]}).encode()


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"name": "chat", "traceId": "W47/95gDgQPSabYzgT/GDA=="},
            'span "chat" (resourceSpans[0].scopeSpans[0].spans[1]): traceId "W47/95gDgQPSabYzgT/GDA==" '
            "is not valid hex",
        ),
        ({"name": "odd", "spanId": "abc"}, 'span "odd" (resourceSpans[0].scopeSpans[0].spans[1]): spanId'),
        ({"name": "num", "traceId": 12}, "traceId must be a hex string, got int"),
        (
            {"name": "link", "links": [{"spanId": "zz"}]},
            'span "link" (resourceSpans[0].scopeSpans[0].spans[1]) links[0]: spanId "zz" is not valid hex',
        ),
        (
            {"name": "t", "startTimeUnixNano": "soon"},
            'at span "t" (resourceSpans[0].scopeSpans[0].spans[1]): Failed to parse startTimeUnixNano',
        ),
        (
            {"name": "i", "attributes": [{"key": "k", "value": {"intValue": "1.5"}}]},
            'at span "i" (resourceSpans[0].scopeSpans[0].spans[1])',
        ),
    ],
)
def test_bad_span_fields_are_located(fields, expected):
    with pytest.raises(InvalidInputError) as caught:
        decode_traces(_with_span(**fields))
    assert expected in str(caught.value)


def test_bad_log_id_is_located():
    body = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"spanId": "0x12"}]}]}]}
    with pytest.raises(
        InvalidInputError, match=r"log record resourceLogs\[0\].scopeLogs\[0\].logRecords\[0\]"
    ):
        decode_logs(json.dumps(body).encode())


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"{not json", "body is not valid JSON"),
        (b"[1, 2]", "must be a JSON object, got list"),
        (b'{"resourceSpans": 7}', "resourceSpans"),
        (b"\xff\xfe\x00", "body is not valid JSON"),
    ],
)
def test_malformed_documents(body, expected):
    with pytest.raises(InvalidInputError) as caught:
        decode_traces(body)
    assert expected in str(caught.value)


def test_encodes_responses_in_camel_case():
    response = ExportTraceServiceResponse(
        partial_success=ExportTracePartialSuccess(rejected_spans=2, error_message="bad ids")
    )
    assert json.loads(encode(response)) == {
        "partialSuccess": {"rejectedSpans": "2", "errorMessage": "bad ids"}
    }
    assert json.loads(encode(ExportTraceServiceResponse())) == {}
