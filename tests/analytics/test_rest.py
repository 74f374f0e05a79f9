"""The analytics endpoints of a real collector process: agent runs recorded with the OpenTelemetry
SDK and sent over OTLP/HTTP, assembled by the collector, then read with trajotel.Client and plain
HTTP; a run deleted over REST stops counting; the OpenAPI document stays valid."""

from __future__ import annotations

import json
import urllib.error
from collections.abc import Iterator

import pytest
from openapi_spec_validator import validate
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult

import trajotel
from trajotel.errors import InvalidInputError
from trajotel.testing.collector_process import CollectorProcess

from tests.support.agent_runs import COLLECTOR_ENV, wait_for
from tests.support.generated_runs import AgentPlan, Run, ToolPlan, TurnPlan, record

# agent0 succeeds after a search; agent1 succeeds although one of its two tool calls failed (not
# more than half); agent2's tool fails, then its model call fails, which fails the whole run.
PLAN = Run(
    agents=(
        AgentPlan((TurnPlan((ToolPlan("search", True, False),)), TurnPlan()), rooted=True),
        AgentPlan(
            (
                TurnPlan((ToolPlan("search", True, True),)),
                TurnPlan((ToolPlan("read_file", True, False),)),
                TurnPlan(),
            ),
            rooted=True,
        ),
        AgentPlan((TurnPlan((ToolPlan("run_tests", True, True),)), TurnPlan(fails=True)), rooted=True),
    ),
    same_system_prompt=False,
)


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorProcess]:
    with CollectorProcess(tmp_path_factory.mktemp("analytics") / "data", env=COLLECTOR_ENV) as process:
        exporter = OTLPSpanExporter(endpoint=process.http_endpoint + "/v1/traces")
        assert exporter.export(record(PLAN)) == SpanExportResult.SUCCESS
        exporter.shutdown()
        wait_for(
            lambda: (
                len(process.query("SELECT trajectory_id FROM trajectories WHERE status != 'running'")) == 3
            ),
            what="three finished trajectories",
        )
        yield process
    assert process.proc is not None and process.proc.returncode == 0, process.log()


def http_error(collector: CollectorProcess, path: str) -> tuple[int, str]:
    with pytest.raises(urllib.error.HTTPError) as raised:
        collector.api("GET", path)
    return raised.value.code, json.loads(raised.value.read())["error"]


def test_every_endpoint_and_a_deletion(collector: CollectorProcess) -> None:
    client = trajotel.Client(collector.http_endpoint)
    by_agent = client.success_rates()
    assert {
        r["agent_name"]: (r["runs"], r["successes"], r["failures"], r["success_rate"]) for r in by_agent
    } == {
        "agent0": (1, 1, 0, 1.0),
        "agent1": (1, 1, 0, 1.0),
        "agent2": (1, 0, 1, 0.0),
    }
    assert {r["tenant"] for r in by_agent} == {"default"} and len({r["day"] for r in by_agent}) == 1
    # agent2's failed call reported no response model: its request model counts.
    models = client.success_rates("model", agent="agent2")
    assert {r["model"]: (r["runs"], r["failures"]) for r in models} == {"m-2026": (1, 1), "m": (1, 1)}
    tools = client.success_rates("tool", agent=["agent0", "agent1"])
    assert {r["tool_name"]: (r["runs"], r["successes"]) for r in tools} == {
        "search": (2, 2),
        "read_file": (1, 1),
    }

    stats = {r["tool_name"]: r for r in client.tool_stats()}
    assert {name: (r["calls"], r["ok"], r["errors"], r["error_rate"]) for name, r in stats.items()} == {
        "search": (2, 1, 1, 0.5),
        "read_file": (1, 1, 0, 0.0),
        "run_tests": (1, 0, 1, 1.0),
    }
    assert stats["search"]["error_types"] == [{"error_type": "ToolError", "calls": 1}]
    assert stats["search"]["p50_duration_ms"] == 1.0  # every recorded tool span lasts 1 ms
    assert [r["tool_name"] for r in client.tool_stats(limit=1)] == ["search"]  # most errors, then calls

    sequences = client.tool_sequences()
    assert {r["agent_name"]: (r["tool_sequence"], r["runs"], r["share"]) for r in sequences} == {
        "agent0": (["search"], 1, 1.0),
        "agent1": (["search", "read_file"], 1, 1.0),
    }

    (pattern,) = client.failure_patterns()
    (failed_id,) = [
        r["trajectory_id"]
        for r in collector.query("SELECT trajectory_id FROM trajectories WHERE outcome = 'failure'")
    ]
    assert (pattern["agent_name"], pattern["failing_tool"], pattern["tool_error_type"]) == (
        "agent2",
        "run_tests",
        "ToolError",
    )
    assert (pattern["model_error_type"], pattern["runs"], pattern["share"]) == ("APIError", 1, 1.0)
    assert pattern["reason_pattern"] == "root span 'invoke_agent agent2' failed: APIError raised"
    assert pattern["example_trajectory_ids"] == [failed_id]
    assert client.failure_patterns(examples=1)[0]["example_trajectory_ids"] == [failed_id]
    assert client.failure_patterns(since="2000-01-01", until="2000-01-02") == []
    raw = json.loads(
        collector.api("GET", "/v1/analytics/failure-patterns?tenant=default&agent=agent2&limit=5")
    )
    assert [r["pattern"] for r in raw] == [pattern["pattern"]]

    (agent0_id,) = [
        r["trajectory_id"]
        for r in collector.query("SELECT trajectory_id FROM trajectories WHERE agent_name = 'agent0'")
    ]
    client.delete(agent0_id)
    assert {r["agent_name"] for r in client.success_rates()} == {"agent1", "agent2"}
    assert {r["agent_name"] for r in client.tool_sequences()} == {"agent1"}
    assert client.tool_stats(agent="agent0") == []


def test_bad_parameters_are_refused_with_the_reason(collector: CollectorProcess) -> None:
    assert http_error(collector, "/v1/analytics/tool-stats?agents=x") == (
        400,
        "unknown query parameter 'agents'",
    )
    assert http_error(collector, "/v1/analytics/success-rates?by=day") == (
        400,
        "by must be one of agent, model, tool, not 'day'",
    )
    code, message = http_error(collector, "/v1/analytics/tool-sequences?since=2026-02-01&until=2026-01-01")
    assert code == 400 and "must be before until" in message
    code, message = http_error(collector, "/v1/analytics/failure-patterns?limit=1000000")
    assert code == 400 and message.startswith("limit must be an integer from 0 to 1000")
    code, message = http_error(collector, "/v1/analytics/success-rates?since=yesterday")
    assert code == 400 and message.startswith("since must be an ISO 8601 time")
    with pytest.raises(InvalidInputError, match="examples must be an integer from 1 to 1000, not '0'"):
        trajotel.Client(collector.http_endpoint).failure_patterns(examples=0)


def test_the_openapi_document_describes_the_endpoints(collector: CollectorProcess) -> None:
    document = trajotel.Client(collector.http_endpoint).openapi()
    validate(document)
    for path in ("success-rates", "tool-stats", "tool-sequences", "failure-patterns"):
        assert "get" in document["paths"][f"/v1/analytics/{path}"]
    assert {"SuccessRate", "ToolStats", "ToolSequence", "FailurePattern"} <= set(
        document["components"]["schemas"]
    )
