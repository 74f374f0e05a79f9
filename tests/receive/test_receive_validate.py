"""validate_traces / validate_logs: what is rejected, what is kept, and what the message says."""

from __future__ import annotations

from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from receive_helpers import PARENT_ID, SPAN_ID, TRACE_ID, logs_request, span, trace_request

from trajotel.receive.validate import MAX_REPORTED, validate_logs, validate_traces


def test_valid_request_is_returned_as_is():
    request = trace_request(span("a"), span("b", parent=PARENT_ID))
    result = validate_traces(request)
    assert result.request is request  # no copy on the common path
    assert (result.accepted, result.rejected, result.error_message) == (2, 0, "")


def test_each_kind_of_bad_id_is_named():
    request = trace_request(
        span("chat gpt-4o", trace_id=b"abc"),
        span("zero trace", trace_id=bytes(16)),
        span("no span id", span_id=b""),
        span("short parent", parent=b"\x01\x02"),
        span("kept"),
        scope="x",
    )
    result = validate_traces(request)
    assert (result.accepted, result.rejected) == (1, 4)
    message = result.error_message
    assert message.startswith("rejected 4 spans: ")
    assert 'span "chat gpt-4o" (resource 0, scope "x"): trace_id is 3 bytes, must be 16' in message
    assert 'span "zero trace" (resource 0, scope "x"): trace_id is all zeros' in message
    assert 'span "no span id" (resource 0, scope "x"): span_id is missing' in message
    assert (
        'span "short parent" (resource 0, scope "x"): parent_span_id is 2 bytes, must be 8 or absent'
        in message
    )
    assert [s.name for s in result.request.resource_spans[0].scope_spans[0].spans] == ["kept"]
    assert request.resource_spans[0].scope_spans[0].spans[0].name == "chat gpt-4o"  # input untouched


def test_several_problems_of_one_span_are_all_listed():
    result = validate_traces(trace_request(span("both", trace_id=b"", span_id=bytes(8))))
    assert "trace_id is missing, span_id is all zeros" in result.error_message


def test_emptied_containers_are_dropped_and_others_kept():
    request = trace_request(span("bad", trace_id=b""), scope="only-bad")
    good = trace_request(span("good"), scope="good")
    request.resource_spans.extend(good.resource_spans)
    request.resource_spans[0].scope_spans.add().scope.name = "was-empty"
    result = validate_traces(request)
    scopes = [ss.scope.name for rs in result.request.resource_spans for ss in rs.scope_spans]
    assert scopes == ["was-empty", "good"]
    assert result.request.resource_spans[1].resource == good.resource_spans[0].resource
    assert 'span "bad" (resource 0, scope "only-bad")' in result.error_message


def test_resource_with_only_bad_spans_disappears():
    result = validate_traces(trace_request(span("bad", span_id=b"\x01")))
    assert len(result.request.resource_spans) == 0
    assert (result.accepted, result.rejected) == (0, 1)


def test_message_lists_the_first_few_and_counts_the_rest():
    bad = [span(f"s{i}", trace_id=b"\x01") for i in range(MAX_REPORTED + 3)]
    result = validate_traces(trace_request(*bad))
    assert result.rejected == MAX_REPORTED + 3
    assert f'span "s{MAX_REPORTED - 1}"' in result.error_message
    assert f'span "s{MAX_REPORTED}"' not in result.error_message
    assert result.error_message.endswith("and 3 more spans with invalid ids")


def test_log_records_without_ids_are_fine_and_bad_ids_are_rejected():
    ok = LogRecord(body=AnyValue(string_value="no ids"))
    with_ids = LogRecord(trace_id=TRACE_ID, span_id=SPAN_ID)
    request = logs_request(ok, with_ids)
    result = validate_logs(request)
    assert result.request is request
    assert (result.accepted, result.rejected) == (2, 0)

    bad = LogRecord(trace_id=b"\x01" * 15, event_name="gen_ai.done")
    result = validate_logs(logs_request(ok, bad, scope="s"))
    assert (result.accepted, result.rejected) == (1, 1)
    assert result.error_message == (
        'rejected 1 log record: log record 1 (resource 0, scope "s", event "gen_ai.done"): '
        "trace_id is 15 bytes, must be 16 or absent"
    )
    assert [r.body.string_value for r in result.request.resource_logs[0].scope_logs[0].log_records] == [
        "no ids"
    ]
