"""search_trajectories, get_successful_examples and analyze_failure_patterns against a real
collector serving known runs (tests/learn/runs.py); the enrichments route they read summaries
from; errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
from openapi_spec_validator import validate

import trajotel
from trajotel.enrich.learn import (
    Limits,
    analyze_failure_patterns,
    get_successful_examples,
    search_trajectories,
)
from trajotel.errors import InvalidInputError, NotFoundError, TrajotelError

from tests.learn.runs import BY_ID, LONG_HISTORY


def test_a_failing_task_with_max_score_finds_the_failing_runs_first(client: trajotel.Client) -> None:
    hits = search_trajectories("Refund order 2210 for a lost parcel", k=10, max_score=0.5, client=client)
    assert hits[0]["id"] == "refund-timeout-1"  # the same task
    assert hits[1]["id"] == "refund-timeout-2"  # a lost parcel too
    assert all(h["score"] <= 0.5 for h in hits)
    assert {h["id"] for h in hits} >= {"refund-timeout-3", "refund-cutoff", "refund-ratelimit"}
    assert not {h["id"] for h in hits} & {"refund-kettle", "refund-blender", "refund-mug"}
    assert set(hits[0]) == {"id", "task", "outcome", "score", "summary"}
    # Not judged: a summary built from the run says how it ended and what it used.
    assert hits[0]["summary"] == (
        "Ended partial: ended with an answer (finish reason stop); 2 of 3 tool calls failed. "
        "Tools: lookup_order, issue_refund (3 calls, 2 failed). "
        "Answer: I could not refund order 2210: the payments API timed out."
    )


def test_search_gives_the_judges_summary_and_applies_filters(client: trajotel.Client) -> None:
    [kettle, *_] = search_trajectories("broken kettle refund", k=3, min_score=0.7, client=client)
    assert kettle["id"] == "refund-kettle" and kettle["score"] == 0.9 and kettle["outcome"] == "success"
    assert kettle["summary"] == BY_ID["refund-kettle"].judge[1]

    weather = search_trajectories("weather", agent="weather-agent", client=client)
    assert {h["id"] for h in weather} == {"weather-paris", "weather-oslo"}
    failed = search_trajectories("weather", outcome="partial", client=client)
    assert [h["id"] for h in failed] == ["weather-oslo"]

    short = search_trajectories("broken kettle", k=1, client=client, limits=Limits(summary_chars=40))
    assert len(short[0]["summary"]) <= 40 and short[0]["summary"].endswith("more characters]")


def test_successful_examples_are_successful_similar_and_show_the_steps(client: trajotel.Client) -> None:
    examples = get_successful_examples("Refund order 9001 for a broken kettle", k=3, client=client)
    assert examples[0]["id"] == "refund-kettle"
    # The toaster run answered (outcome success) but the judge scored it 0.3: not an example.
    # The cut-off kettle run is similar but partial, scoring 0.5.
    assert {e["id"] for e in examples} == {"refund-kettle", "refund-blender", "refund-mug"}
    assert all(e["outcome"] == "success" or e["score"] >= 0.7 for e in examples)
    kettle = examples[0]
    assert kettle["task"] == "Refund order 1182 for a broken kettle" and kettle["score"] == 0.9
    assert kettle["steps"] == [
        {
            "tool": "lookup_order",
            "arguments": {"order_id": 1182},
            "result": '{"order_id": 1182, "status": "delivered"}',
            "status": "ok",
        },
        {
            "tool": "issue_refund",
            "arguments": {"order_id": 1182, "amount": 39.9},
            "result": '{"refund_id": "R-1182"}',
            "status": "ok",
        },
    ]
    assert kettle["final_answer"] == "Refund R-1182 of 39.90 issued for order 1182."
    blender = next(e for e in examples if e["id"] == "refund-blender")
    history = blender["steps"][0]["result"]
    assert len(history) <= Limits().result_chars < len(LONG_HISTORY)
    assert history.startswith(LONG_HISTORY[:100]) and history.endswith("more characters]")


def test_successful_examples_honour_k_agent_and_min_score(client: trajotel.Client) -> None:
    [one] = get_successful_examples("Refund order for a broken kettle", k=1, client=client)
    assert one["id"] == "refund-kettle"
    assert get_successful_examples("refund kettle", agent="weather-agent", client=client) == []
    # Above every score: outcome success still counts, unless the judge scored the run lower.
    strict = get_successful_examples("refund order", k=5, min_score=0.95, client=client)
    assert [e["id"] for e in strict] == ["refund-mug"]
    assert [e["id"] for e in get_successful_examples("weather", client=client)] == ["weather-paris"]


def test_failure_patterns_group_the_known_failures(client: trajotel.Client) -> None:
    report = analyze_failure_patterns("Refund order for a lost parcel", agent="support-agent", client=client)
    ids = {run["id"] for run in report["runs"]}
    failing = {
        "refund-timeout-1",
        "refund-timeout-2",
        "refund-timeout-3",
        "refund-cutoff",
        "refund-ratelimit",
    }
    assert ids == failing | {"refund-toaster"}  # the toaster scored 0.3 by the judge
    patterns = {(p["kind"], p["pattern"]): p for p in report["patterns"]}
    timeout = patterns["tool_error", "tool issue_refund failed: TimeoutError"]
    assert report["patterns"][0] is timeout
    assert (timeout["count"], timeout["share"]) == (3, 0.5)
    assert set(timeout["example_ids"]) == {"refund-timeout-1", "refund-timeout-2", "refund-timeout-3"}
    assert "payments API timed out after 30 s" in timeout["example"]
    model = patterns["model_error", "model call failed: RateLimitError"]
    assert (model["count"], model["example_ids"]) == (1, ["refund-ratelimit"])
    assert model["example"] == "Error code: 429 - rate limit exceeded"
    cut_off = patterns["cut_off", "answer cut off by the token limit (length)"]
    assert cut_off["example_ids"] == ["refund-cutoff"] and "refund policy" in cut_off["example"]
    # Outcome reasons, numbers left out so runs group; those repeating a signal are not listed.
    assert patterns["outcome_reason", "N of N tool calls failed"]["count"] == 2
    assert patterns["outcome_reason", "explicit trajotel.reward N"]["example_ids"] == ["refund-timeout-3"]
    assert not [p for p in report["patterns"] if "RateLimitError" in p["pattern"] and p is not model]
    assert report["unexplained"] == [{"id": "refund-toaster", "summary": BY_ID["refund-toaster"].judge[1]}]
    digest = report["digest"]
    assert digest.startswith("6 failed or low-scoring runs similar to 'Refund order for a lost parcel'")
    assert "- tool issue_refund failed: TimeoutError: 3 of 6 runs (50%)" in digest
    assert "refund-toaster: Refunded 500.00" in digest


def test_failure_patterns_without_a_task_are_the_recent_failures(client: trajotel.Client) -> None:
    report = analyze_failure_patterns(agent="weather-agent", client=client)
    assert [run["id"] for run in report["runs"]] == ["weather-oslo"]
    [tool, reason] = report["patterns"]
    assert (tool["pattern"], tool["count"], tool["share"]) == ("tool get_weather failed: HTTPError", 1, 1.0)
    assert reason["pattern"] == "N of N tool calls failed"
    everyone = analyze_failure_patterns(k=3, client=client)
    # Newest first: the last failing runs of tests/learn/runs.py's order.
    assert [run["id"] for run in everyone["runs"]] == ["weather-oslo", "refund-ratelimit", "refund-cutoff"]
    nothing = analyze_failure_patterns("quantum chromodynamics", client=client)
    assert nothing["runs"] == [] and nothing["patterns"] == []
    assert (
        nothing["digest"] == "No failed or low-scoring runs similar to 'quantum chromodynamics' were found."
    )


def test_the_enrichments_route(client: trajotel.Client) -> None:
    stages = client.enrichments("refund-kettle")
    assert set(stages) == {"heuristic", "judge", "keywords"}
    judge = stages["judge"]
    assert (judge["score"], judge["label"], judge["stage_version"]) == (0.9, "success", "1:fake-judge")
    assert judge["result"]["summary"] == judge["summary"] == BY_ID["refund-kettle"].judge[1]
    assert (
        stages["heuristic"]["result"]["outcome"] == "success"
        and stages["heuristic"]["trajectory_version"] == 1
    )
    assert "judge" not in client.enrichments("refund-mug")
    with pytest.raises(NotFoundError, match="no trajectory 'nope'"):
        client.enrichments("nope")
    with pytest.raises(NotFoundError):
        trajotel.Client(client.endpoint, tenant="elsewhere").enrichments("refund-kettle")
    document = client.openapi()
    validate(document)
    assert document["paths"]["/v1/trajectories/{id}/enrichments"]["get"]["operationId"] == (
        "getTrajectoryEnrichments"
    )


def test_bad_input_is_refused_with_what_is_wrong(client: trajotel.Client) -> None:
    with pytest.raises(InvalidInputError, match="outcome must be one of success"):
        search_trajectories("refund", outcome="won", client=client)
    with pytest.raises(InvalidInputError, match="k must be a positive integer"):
        get_successful_examples("refund", k=0, client=client)
    with pytest.raises(InvalidInputError, match="min_score must be in"):
        get_successful_examples("refund", min_score=7, client=client)
    with pytest.raises(InvalidInputError, match='"query" must be a non-empty string'):  # the collector's
        search_trajectories("  ", client=client)


def test_an_unreachable_collector_raises_a_clear_error(unreachable: trajotel.Client) -> None:
    for call in (
        lambda: search_trajectories("refund", client=unreachable),
        lambda: get_successful_examples("refund", client=unreachable),
        lambda: analyze_failure_patterns("refund", client=unreachable),
        lambda: analyze_failure_patterns(client=unreachable),
    ):
        with pytest.raises(
            TrajotelError, match=r"cannot reach the trajotel collector at http://127\.0\.0\.1:"
        ) as e:
            call()
        assert "TRAJOTEL_ENDPOINT" in (e.value.hint or "")


def test_importing_the_tools_loads_nothing_of_the_collector() -> None:
    code = (
        "import sys, trajotel.enrich.learn, trajotel.enrich.fewshot, trajotel.enrich.tool_schemas, "
        "trajotel.enrich.mcp_server, trajotel.cli.mcp\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('chdb', 'clickhouse_connect', 'mcp') "
        "or m.startswith(('trajotel.store', 'trajotel.collector', 'trajotel.receive'))))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"
