"""The analytics views and query functions on the real engine, against the runs of conftest.py
whose numbers are worked out by hand there."""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any

import pytest

from trajotel.errors import InvalidInputError
from trajotel.store import Store, analytics
from trajotel.store.edits import delete_trajectory
from trajotel.store.trajectories import write_trajectories

from tests.analytics.conftest import (
    CODER,
    D0,
    D1,
    DAY0,
    DAY1,
    EDITED_REASON,
    RATE_LIMITED,
    SUPPORT,
    fill,
    run,
)

OUTCOME_COLUMNS = ("runs", "successes", "failures", "partials", "unknowns", "success_rate", "avg_reward")


def rows(store: Store, sql: str) -> list[dict[str, Any]]:
    return store.query(sql).dicts()


def counts(row: dict[str, Any]) -> tuple:
    return tuple(row[c] for c in OUTCOME_COLUMNS)


def by_key(found: list[dict[str, Any]], *key: str) -> dict[tuple, tuple]:
    return {tuple(r[k] for k in key): counts(r) for r in found}


def test_runs_view_has_one_row_per_finished_live_run(filled: Store) -> None:
    found = {r["trajectory_id"]: r for r in rows(filled, "SELECT * FROM analytics_runs")}
    # c3 is running, d1 deleted.
    assert sorted(found) == ["c1", "c2", "c4", "s1", "s2", "s3", "s4", "s5", "s6", "x1"]
    c2 = found["c2"]
    assert c2["tool_sequence"] == ["run_tests", "read_file", "run_tests"]
    assert (c2["tool_calls"], c2["tool_errors"], c2["failing_tool"], c2["tool_error_type"]) == (
        3,
        2,
        "run_tests",
        "AssertionError",
    )
    assert c2["final_finish_reason"] == "stop" and c2["model_error_type"] == ""
    assert c2["reason_pattern"] == "ended with an answer (finish reason stop); N of N tool calls failed"
    assert found["s2"]["tool_sequence"] == ["search", "lookup_order"]  # search, search collapsed
    assert (found["s3"]["model_error_type"], found["s3"]["final_finish_reason"]) == ("RateLimitError", "")
    s5 = found["s5"]  # edited by a person: the edit counts
    assert (s5["outcome"], s5["outcome_reasons"], s5["final_finish_reason"]) == (
        "failure",
        [EDITED_REASON],
        "length",
    )
    c4 = found["c4"]  # no model calls: the joined columns are empty, not missing
    assert (c4["tool_sequence"], c4["tool_calls"], c4["failing_tool"], c4["day"]) == ([], 0, "", DAY1)
    assert found["x1"]["reason_pattern"] == "explicit trajotel.reward N"


def test_tool_calls_view(filled: Store) -> None:
    found = rows(filled, "SELECT * FROM analytics_tool_calls ORDER BY tool_call_id")
    assert len(found) == 14  # c3's pending call (running) and d1's (deleted) are not there
    s4 = [r for r in found if r["trajectory_id"] == "s4"]
    assert [
        (r["tool_name"], r["status"], r["error_type"], r["duration_ms"], r["result_source"]) for r in s4
    ] == [
        ("search", "ok", "", None, "next_input"),
        ("search", "error", "ConnectionError", 700.0, "execute_tool_span"),
    ]
    assert {(r["agent_name"], r["day"], r["outcome"]) for r in s4} == {(SUPPORT, DAY1, "success")}


def test_success_rate_by_agent(filled: Store) -> None:
    assert by_key(
        rows(filled, "SELECT * FROM analytics_success_by_agent"), "tenant", "day", "agent_name"
    ) == {
        ("default", DAY0, SUPPORT): (3, 2, 1, 0, 0, 2 / 3, 0.75),
        ("default", DAY0, CODER): (1, 1, 0, 0, 0, 1.0, None),
        ("default", DAY1, SUPPORT): (3, 1, 2, 0, 0, 1 / 3, None),  # s5 counts as the failure it was edited to
        ("default", DAY1, CODER): (2, 0, 0, 1, 1, 0.0, None),  # c2 partial, c4 unknown; c3 running
        ("acme", DAY1, SUPPORT): (1, 0, 1, 0, 0, 0.0, 0.0),
    }


def test_success_rate_by_model_counts_a_run_for_each_of_its_models(filled: Store) -> None:
    assert by_key(rows(filled, "SELECT * FROM analytics_success_by_model"), "tenant", "day", "model") == {
        ("default", DAY0, "gpt-a"): (3, 2, 1, 0, 0, 2 / 3, 0.75),
        ("default", DAY0, "gpt-b"): (2, 1, 1, 0, 0, 0.5, None),  # s3 used both models
        ("default", DAY1, "gpt-a"): (2, 1, 1, 0, 0, 0.5, None),
        ("default", DAY1, "gpt-b"): (3, 0, 2, 1, 0, 0.0, None),
        ("acme", DAY1, "gpt-a"): (1, 0, 1, 0, 0, 0.0, 0.0),
    }


def test_success_rate_by_tool_counts_the_runs_that_used_it(filled: Store) -> None:
    assert by_key(rows(filled, "SELECT * FROM analytics_success_by_tool"), "tenant", "day", "tool_name") == {
        ("default", DAY0, "search"): (3, 2, 1, 0, 0, 2 / 3, 0.75),
        ("default", DAY0, "lookup_order"): (2, 2, 0, 0, 0, 1.0, 0.75),
        ("default", DAY0, "run_tests"): (1, 1, 0, 0, 0, 1.0, None),
        ("default", DAY1, "search"): (2, 1, 1, 0, 0, 0.5, None),  # s4 called it twice: one run
        ("default", DAY1, "read_file"): (1, 0, 0, 1, 0, 0.0, None),
        ("default", DAY1, "run_tests"): (1, 0, 0, 1, 0, 0.0, None),
        ("acme", DAY1, "search"): (1, 0, 1, 0, 0, 0.0, 0.0),
    }


def test_tool_stats(filled: Store) -> None:
    found = {(r["tenant"], r["tool_name"]): r for r in rows(filled, "SELECT * FROM analytics_tool_stats")}
    columns = ("calls", "runs", "ok", "errors", "pending", "error_rate", "timed_calls")
    expected = {
        ("default", "search"): (7, 5, 4, 3, 0, 3 / 7, 6),
        ("default", "lookup_order"): (2, 2, 1, 1, 0, 0.5, 2),
        ("default", "run_tests"): (3, 2, 1, 2, 0, 2 / 3, 3),
        ("default", "read_file"): (1, 1, 1, 0, 0, 0.0, 1),
        ("acme", "search"): (1, 1, 0, 1, 0, 1.0, 1),
    }
    assert {key: tuple(r[c] for c in columns) for key, r in found.items()} == expected
    assert found["default", "search"]["error_types"] == [
        {"error_type": "TimeoutError", "calls": 2},
        {"error_type": "ConnectionError", "calls": 1},
    ]
    assert found["default", "read_file"]["error_types"] == []
    # Linear interpolation between the sorted durations (numpy's default, Excel's PERCENTILE.INC):
    # search 100 300 500 700 1000 2000 -> p50 between 500 and 700, p95 at 4.75 -> 1000 + 0.75 * 1000.
    durations = {key: (r["p50_duration_ms"], r["p95_duration_ms"]) for key, r in found.items()}
    assert durations == {
        ("default", "search"): (600.0, 1750.0),
        ("default", "lookup_order"): (300.0, 390.0),
        ("default", "run_tests"): (1500.0, 1680.0),
        ("default", "read_file"): (10.0, 10.0),
        ("acme", "search"): (50.0, 50.0),
    }


def test_tool_sequences_of_successful_runs(filled: Store) -> None:
    found = rows(filled, "SELECT * FROM analytics_tool_sequences")
    columns = ("steps", "runs", "share", "avg_turns", "avg_reward", "last_seen")
    assert {(r["agent_name"], tuple(r["tool_sequence"])): tuple(r[c] for c in columns) for r in found} == {
        (SUPPORT, ("search", "lookup_order")): (
            2,
            2,
            2 / 3,
            3.0,
            0.75,
            (D0 + timedelta(hours=10)).replace(tzinfo=None),
        ),
        (SUPPORT, ("search",)): (1, 1, 1 / 3, 2.0, None, (D1 + timedelta(hours=9)).replace(tzinfo=None)),
        (CODER, ("run_tests",)): (1, 1, 1.0, 2.0, None, (D0 + timedelta(hours=12)).replace(tzinfo=None)),
    }


def test_failure_patterns(filled: Store) -> None:
    found = rows(filled, "SELECT * FROM analytics_failure_patterns")
    columns = ("outcome", "failing_tool", "tool_error_type", "model_error_type", "final_finish_reason")
    summary = {
        (r["tenant"], r["agent_name"], r["pattern"]): (
            tuple(r[c] for c in columns),
            r["runs"],
            r["share"],
            r["example_trajectory_ids"],
        )
        for r in found
    }
    assert summary == {
        (
            "default",
            SUPPORT,
            f"tool search failed: TimeoutError | model call failed: RateLimitError | {RATE_LIMITED}",
        ): (("failure", "search", "TimeoutError", "RateLimitError", ""), 2, 2 / 3, ["s6", "s3"]),
        ("default", SUPPORT, f"finish reason length | {EDITED_REASON}"): (
            ("failure", "", "", "", "length"),
            1,
            1 / 3,
            ["s5"],
        ),
        (
            "default",
            CODER,
            "tool run_tests failed: AssertionError | finish reason stop | "
            "ended with an answer (finish reason stop); N of N tool calls failed",
        ): (("partial", "run_tests", "AssertionError", "", "stop"), 1, 1.0, ["c2"]),
        (
            "acme",
            SUPPORT,
            "tool search failed: TimeoutError | finish reason stop | explicit trajotel.reward N",
        ): (
            ("failure", "search", "TimeoutError", "", "stop"),
            1,
            1.0,
            ["x1"],
        ),
    }
    timeouts = next(r for r in found if r["runs"] == 2)
    assert timeouts["last_seen"] == (D1 + timedelta(hours=11)).replace(tzinfo=None)


# --- the query functions ---------------------------------------------------------------------------


def test_functions_without_filters_match_the_views(filled: Store) -> None:
    for by, view in (("agent", "by_agent"), ("model", "by_model"), ("tool", "by_tool")):
        mine = analytics.success_rates(filled, by, limit=1000)
        assert sorted(map(repr, mine)) == sorted(
            map(repr, rows(filled, f"SELECT * FROM analytics_success_{view}"))
        )
    for function, view in (
        (analytics.tool_stats, "tool_stats"),
        (analytics.tool_sequences, "tool_sequences"),
        (analytics.failure_patterns, "failure_patterns"),
    ):
        mine = function(filled, limit=1000)
        assert len(mine) == len(rows(filled, f"SELECT * FROM analytics_{view}")) > 0


def test_success_rates_filters_and_order(filled: Store) -> None:
    found = analytics.success_rates(filled, "agent", tenant="default")
    # Newest day first, then the most runs.
    assert [(r["day"], r["agent_name"]) for r in found] == [
        (DAY1, SUPPORT),
        (DAY1, CODER),
        (DAY0, SUPPORT),
        (DAY0, CODER),
    ]
    assert analytics.success_rates(filled, "agent", tenant="default", limit=1)[0]["agent_name"] == SUPPORT
    only_coder = analytics.success_rates(filled, "model", agents=[CODER])
    assert by_key(only_coder, "day", "model") == {
        (DAY0, "gpt-b"): (1, 1, 0, 0, 0, 1.0, None),
        (DAY1, "gpt-b"): (1, 0, 0, 1, 0, 0.0, None),  # c4 used no model: in no model's row
    }
    # since inclusive, until exclusive, on the run's start time (any time zone).
    at_ten = (D0 + timedelta(hours=10)).astimezone(timezone(timedelta(hours=2)))
    window = analytics.success_rates(filled, "tool", tenant="default", since=at_ten, until=D1)
    assert by_key(window, "day", "tool_name") == {
        (DAY0, "search"): (2, 1, 1, 0, 0, 0.5, 0.5),  # s2, s3 (s1 started at 9:00)
        (DAY0, "lookup_order"): (1, 1, 0, 0, 0, 1.0, 0.5),
        (DAY0, "run_tests"): (1, 1, 0, 0, 0, 1.0, None),
    }
    assert analytics.success_rates(filled, "agent", tenant="nobody") == []


def test_tool_stats_filters(filled: Store) -> None:
    found = analytics.tool_stats(filled, tenant="default", since=D1)
    assert [(r["tool_name"], r["calls"], r["errors"]) for r in found] == [
        ("search", 3, 2),  # the most errors first, then the most calls
        ("run_tests", 2, 2),
        ("read_file", 1, 0),
    ]
    coder = analytics.tool_stats(filled, agents=[CODER], limit=1)
    assert [(r["tool_name"], r["error_types"]) for r in coder] == [
        ("run_tests", [{"error_type": "AssertionError", "calls": 2}])
    ]


def test_tool_sequences_filters(filled: Store) -> None:
    found = analytics.tool_sequences(filled, agents=[SUPPORT], until=D1)
    assert [(r["tool_sequence"], r["runs"], r["share"]) for r in found] == [
        (["search", "lookup_order"], 2, 1.0)
    ]


def test_failure_patterns_filters(filled: Store) -> None:
    found = analytics.failure_patterns(filled, tenant="default", examples=1)
    assert [(r["agent_name"], r["runs"], r["example_trajectory_ids"]) for r in found] == [
        (SUPPORT, 2, ["s6"]),  # the most frequent first, then the newest
        (CODER, 1, ["c2"]),
        (SUPPORT, 1, ["s5"]),
    ]
    day0 = analytics.failure_patterns(filled, tenant="default", until=D1)
    assert [(r["runs"], r["share"], r["example_trajectory_ids"]) for r in day0] == [(1, 1.0, ["s3"])]
    assert analytics.failure_patterns(filled, agents=["no-such-agent"]) == []


def test_bad_arguments_say_what_is_wrong(filled: Store) -> None:
    with pytest.raises(InvalidInputError, match="by must be one of agent, model, tool, not 'day'"):
        analytics.success_rates(filled, "day")
    with pytest.raises(InvalidInputError, match="must be before until"):
        analytics.tool_stats(filled, since=D1, until=D0)
    with pytest.raises(InvalidInputError, match="limit must be 0 or more"):
        analytics.tool_sequences(filled, limit=-1)
    with pytest.raises(InvalidInputError, match="examples must be 1 or more"):
        analytics.failure_patterns(filled, examples=0)


def test_a_deleted_trajectory_stops_counting(store: Store) -> None:
    fill(store)
    extra = run("gone", CODER, D0 + timedelta(hours=20), "failure", ["lost"], [])
    write_trajectories(store, [(extra, "fp-gone")], set())

    def coder_day0() -> tuple:
        (row,) = analytics.success_rates(store, "agent", tenant="default", agents=[CODER], until=D1)
        return counts(row)

    assert coder_day0() == (2, 1, 1, 0, 0, 0.5, None)
    assert [
        r["example_trajectory_ids"] for r in analytics.failure_patterns(store, agents=[CODER], until=D1)
    ] == [["gone"]]
    delete_trajectory(store, "default", "gone")
    assert coder_day0() == (1, 1, 0, 0, 0, 1.0, None)
    assert analytics.failure_patterns(store, agents=[CODER], until=D1) == []
