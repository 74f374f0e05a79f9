"""A store holding runs whose analytics are known: written by the store's own writer (as the
assembler writes them), one edited by a person, one deleted, one still running.

The runs started the day before yesterday (D0) and yesterday (D1), UTC, so the documented queries
over "the last 7 days" find them. The expected numbers in test_views.py are worked out from the
table below by hand.

Each run: id, tenant (default unless said), agent, day, outcome, reward; then its turns, each
"model [tool status error duration-ms, ...] finish-reason-or-error":

    s1 support D0 success 1.0  gpt-a [search ok 100]; gpt-a [lookup_order ok 200]; gpt-a stop
    s2 support D0 success 0.5  gpt-a [search ok 300, search ok 500];
                               gpt-a [lookup_order error KeyError 400]; gpt-a stop
    s3 support D0 failure      gpt-a [search error TimeoutError 1000]; gpt-b error RateLimitError
    c1 coder   D0 success      gpt-b [run_tests ok 1000]; gpt-b stop
    s4 support D1 success      gpt-a [search ok (no span: no duration),
                                      search error ConnectionError 700]; gpt-a stop
    s5 support D1 partial, edited to failure   gpt-b length
    s6 support D1 failure      gpt-a [search error TimeoutError 2000]; gpt-b error RateLimitError
    c2 coder   D1 partial      gpt-b [run_tests error AssertionError 1500, read_file ok 10];
                               gpt-b [run_tests error AssertionError 1700]; gpt-b stop
    c3 coder   D1 running (never counted)   gpt-b [run_tests pending]
    c4 coder   D1 unknown      no model calls
    d1 support D1 success, deleted (never counted)   gpt-a [search ok 10]; gpt-a stop
    x1 tenant acme, support D1 failure 0.0   gpt-a [search error TimeoutError 50]; gpt-a stop
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from trajotel.assemble.model import Outcome, ToolCall, Trajectory, Turn
from trajotel.store import Store
from trajotel.store.edits import Patch, delete_trajectory, patch_trajectory
from trajotel.store.trajectories import write_trajectories

TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
D0 = TODAY - timedelta(days=2)
D1 = TODAY - timedelta(days=1)
DAY0: date = D0.date()
DAY1: date = D1.date()


def ns(moment: datetime) -> int:
    return int(moment.timestamp()) * 10**9


@dataclass
class Call:
    name: str
    status: str = "ok"
    error: str | None = None
    ms: int | None = None  # None: no execute_tool span (the result came from the next input)


@dataclass
class Step:
    model: str
    calls: list[Call] = field(default_factory=list)
    finish: str | None = None
    error: str | None = None


def run(
    trajectory_id: str,
    agent: str,
    start: datetime,
    label: str,
    reasons: list[str],
    steps: list[Step],
    *,
    reward: float | None = None,
    tenant: str = "default",
    status: str = "complete",
) -> Trajectory:
    t0 = ns(start)
    turns = []
    clock = t0
    for index, step in enumerate(steps):
        calls = []
        for k, call in enumerate(step.calls):
            begin = clock + 1_000_000 * (k + 1)
            timed = call.ms is not None
            calls.append(
                ToolCall(
                    id=f"{trajectory_id}-call-{index}-{k}",
                    name=call.name,
                    status=call.status,
                    error_type=call.error,
                    span_id=f"{index:08x}{k:08x}" if timed else None,
                    start_time_unix_nano=begin if timed else None,
                    end_time_unix_nano=begin + (call.ms or 0) * 1_000_000 if timed else None,
                    result_source="execute_tool_span"
                    if timed
                    else ("next_input" if call.status == "ok" else None),
                )
            )
        turns.append(
            Turn(
                index=index,
                trace_id=trajectory_id,
                span_id=f"{index:016x}",
                provider="openai",
                request_model=step.model,
                response_model=step.model,
                start_time_unix_nano=clock,
                end_time_unix_nano=clock + 500_000_000,
                tool_calls=calls,
                finish_reasons=[step.finish] if step.finish else [],
                error_type=step.error,
            )
        )
        clock += 10 * 10**9
    return Trajectory(
        id=trajectory_id,
        version=1,
        tenant=tenant,
        agent_name=agent,
        task=f"task of {trajectory_id}",
        status=status,
        outcome=Outcome(label=label, confidence=0.8, reasons=reasons),
        reward=reward,
        trace_ids=[trajectory_id],
        start_time_unix_nano=t0,
        end_time_unix_nano=clock,
        models=sorted({s.model for s in steps}),
        tools_used=sorted({c.name for s in steps for c in s.calls}),
        turns=turns,
    )


SUPPORT, CODER = "support-agent", "coder-agent"
RATE_LIMITED = "last model call failed: RateLimitError"

RUNS = [
    run(
        "s1",
        SUPPORT,
        D0 + timedelta(hours=9),
        "success",
        ["ended with an answer (finish reason stop)"],
        [
            Step("gpt-a", [Call("search", ms=100)], "tool_calls"),
            Step("gpt-a", [Call("lookup_order", ms=200)], "tool_calls"),
            Step("gpt-a", finish="stop"),
        ],
        reward=1.0,
    ),
    run(
        "s2",
        SUPPORT,
        D0 + timedelta(hours=10),
        "success",
        ["ended with an answer (finish reason stop)", "1 of 3 tool calls failed"],
        [
            Step("gpt-a", [Call("search", ms=300), Call("search", ms=500)], "tool_calls"),
            Step("gpt-a", [Call("lookup_order", "error", "KeyError", ms=400)], "tool_calls"),
            Step("gpt-a", finish="stop"),
        ],
        reward=0.5,
    ),
    run(
        "s3",
        SUPPORT,
        D0 + timedelta(hours=11),
        "failure",
        [RATE_LIMITED],
        [
            Step("gpt-a", [Call("search", "error", "TimeoutError", ms=1000)], "tool_calls"),
            Step("gpt-b", error="RateLimitError"),
        ],
    ),
    run(
        "c1",
        CODER,
        D0 + timedelta(hours=12),
        "success",
        ["ended with an answer (finish reason stop)"],
        [Step("gpt-b", [Call("run_tests", ms=1000)], "tool_calls"), Step("gpt-b", finish="stop")],
    ),
    run(
        "s4",
        SUPPORT,
        D1 + timedelta(hours=9),
        "success",
        ["ended with an answer (finish reason stop)", "1 of 2 tool calls failed"],
        [
            Step("gpt-a", [Call("search"), Call("search", "error", "ConnectionError", ms=700)], "tool_calls"),
            Step("gpt-a", finish="stop"),
        ],
    ),
    run(
        "s5",
        SUPPORT,
        D1 + timedelta(hours=10),
        "partial",
        ["last answer truncated (finish reason length)"],
        [Step("gpt-b", finish="length")],
    ),
    run(
        "s6",
        SUPPORT,
        D1 + timedelta(hours=11),
        "failure",
        [RATE_LIMITED],
        [
            Step("gpt-a", [Call("search", "error", "TimeoutError", ms=2000)], "tool_calls"),
            Step("gpt-b", error="RateLimitError"),
        ],
    ),
    run(
        "c2",
        CODER,
        D1 + timedelta(hours=12),
        "partial",
        ["ended with an answer (finish reason stop)", "2 of 3 tool calls failed"],
        [
            Step(
                "gpt-b",
                [Call("run_tests", "error", "AssertionError", ms=1500), Call("read_file", ms=10)],
                "tool_calls",
            ),
            Step("gpt-b", [Call("run_tests", "error", "AssertionError", ms=1700)], "tool_calls"),
            Step("gpt-b", finish="stop"),
        ],
    ),
    run(
        "c3",
        CODER,
        D1 + timedelta(hours=13),
        "unknown",
        ["still running"],
        [Step("gpt-b", [Call("run_tests", "pending")], "tool_calls")],
        status="running",
    ),
    run("c4", CODER, D1 + timedelta(hours=14), "unknown", ["no model calls"], []),
    run(
        "d1",
        SUPPORT,
        D1 + timedelta(hours=15),
        "success",
        ["ended with an answer (finish reason stop)"],
        [Step("gpt-a", [Call("search", ms=10)], "tool_calls"), Step("gpt-a", finish="stop")],
    ),
    run(
        "x1",
        SUPPORT,
        D1 + timedelta(hours=16),
        "failure",
        ["explicit trajotel.reward 0"],
        [
            Step("gpt-a", [Call("search", "error", "TimeoutError", ms=50)], "tool_calls"),
            Step("gpt-a", finish="stop"),
        ],
        reward=0.0,
        tenant="acme",
    ),
]

EDITED_REASON = "cut off mid-answer"


def fill(store: Store) -> None:
    """Write the runs, then edit s5's outcome and delete d1 as a person would."""
    write_trajectories(store, [(t, f"fp-{t.id}") for t in RUNS], set())
    patch_trajectory(
        store, "default", "s5", Patch.from_json({"outcome": {"label": "failure", "reason": EDITED_REASON}})
    )
    delete_trajectory(store, "default", "d1")


@pytest.fixture(scope="module")
def filled(store_root: Path) -> Iterator[Store]:
    """One store with the runs above for the whole module (migrating and filling take seconds)."""
    opened = Store.open(f"chdb://{store_root}", database=f"t_{uuid.uuid4().hex[:12]}")
    try:
        fill(opened)
        yield opened
    finally:
        opened.command(f"DROP DATABASE IF EXISTS {opened.database}")
        opened.close()
