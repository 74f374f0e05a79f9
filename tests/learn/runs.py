"""The past runs the learning tests learn from: refund-agent runs that succeeded and failed in
known ways (a tool timing out, an answer cut off, a model call refused), a run the judge scored
low despite its answer, and weather-agent runs. Outcomes come from the assembler's own rules.

``python tests/learn/runs.py DATA_DIR`` writes them into the embedded store of DATA_DIR (in a
process of its own: chdb opens one store per process), as the assembler would, then runs the
real ``heuristic`` and ``keywords`` stages; judge results are written as the judge stage writes
them. A collector started on DATA_DIR afterwards serves them.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from trajotel.assemble.model import Message, Part, ToolCall, Trajectory, Turn
from trajotel.assemble.outcome import outcome

SUPPORT = "support-agent"
WEATHER = "weather-agent"
LONG_HISTORY = "order history: " + "; ".join(
    f"event {i}: parcel scanned at depot {i % 7}" for i in range(200)
)


@dataclass
class Call:
    name: str
    arguments: dict[str, Any]
    result: Any
    error_type: str | None = None


@dataclass
class Step:
    """One model call: the tools it asked for (run before the next call), or its text."""

    calls: list[Call] = field(default_factory=list)
    text: str | None = None
    finish: str | None = None
    error_type: str | None = None
    status_message: str | None = None


@dataclass
class Run:
    id: str
    task: str
    steps: list[Step]
    agent: str = SUPPORT
    reward: float | None = None  # recorded by the run itself (explicit: outcome from it)
    explicit: str | None = None  # trajotel.outcome set by the run
    judge: tuple[float, str] | None = None  # the judge's score and summary


def _ok(order: int, amount: float) -> list[Step]:
    return [
        Step([Call("lookup_order", {"order_id": order}, {"order_id": order, "status": "delivered"})]),
        Step([Call("issue_refund", {"order_id": order, "amount": amount}, {"refund_id": f"R-{order}"})]),
        Step(text=f"Refund R-{order} of {amount:.2f} issued for order {order}."),
    ]


def _timeout(order: int, retries: int) -> list[Step]:
    timeout = Call("issue_refund", {"order_id": order}, "payments API timed out after 30 s", "TimeoutError")
    return [
        Step([Call("lookup_order", {"order_id": order}, {"order_id": order, "status": "lost"})]),
        *[Step([timeout]) for _ in range(retries)],
        Step(text=f"I could not refund order {order}: the payments API timed out."),
    ]


RUNS = [
    Run("refund-kettle", "Refund order 1182 for a broken kettle", _ok(1182, 39.9), explicit="success",
        judge=(0.9, "Looked up order 1182 and refunded the broken kettle (39.90) with issue_refund.")),
    Run("refund-blender", "Refund order 3310 for a damaged blender", [
        Step([Call("lookup_order", {"order_id": 3310}, LONG_HISTORY)]),
        *_ok(3310, 89.0)[1:],
    ], judge=(0.85, "Read the long order history of order 3310, then refunded the damaged blender.")),
    Run("refund-mug", "Refund order 4471 for a cracked mug", _ok(4471, 12.5)),  # not judged
    Run("refund-toaster", "Refund order 5120 for a broken toaster", _ok(5120, 500.0),
        judge=(0.3, "Refunded 500.00 for a 50.00 toaster: the wrong amount.")),
    Run("refund-timeout-1", "Refund order 2210 for a lost parcel", _timeout(2210, 2)),
    Run("refund-timeout-2", "Refund order 2315 for a lost parcel", _timeout(2315, 2)),
    Run("refund-timeout-3", "Refund order 2420 for a torn jacket", _timeout(2420, 1), reward=0.0),
    Run("refund-cutoff", "Refund order 2530 for a faulty kettle", [
        Step([Call("lookup_order", {"order_id": 2530}, {"order_id": 2530, "status": "delivered"})]),
        Step(text="To refund order 2530 I will first explain the refund policy in detail, which",
             finish="length"),
    ]),
    Run("refund-ratelimit", "Refund order 2640 for a missing charger", [
        Step([Call("lookup_order", {"order_id": 2640}, {"order_id": 2640, "status": "delivered"})]),
        Step(error_type="RateLimitError", status_message="Error code: 429 - rate limit exceeded"),
    ]),
    Run("weather-paris", "What is the weather in Paris", [
        Step([Call("get_weather", {"city": "Paris"}, {"sky": "sunny", "celsius": 22})]),
        Step(text="It is sunny and 22 C in Paris."),
    ], agent=WEATHER),
    Run("weather-oslo", "What is the weather in Oslo", [
        Step([Call("get_weather", {"city": "Oslo"}, "503 Service Unavailable", "HTTPError")]),
        Step([Call("get_weather", {"city": "Oslo"}, "503 Service Unavailable", "HTTPError")]),
        Step(text="I could not get the weather in Oslo."),
    ], agent=WEATHER),
]  # fmt: skip
BY_ID = {run.id: run for run in RUNS}


def trajectory(run: Run, number: int) -> Trajectory:
    """The trajectory the assembler would build for ``run`` (the ``number``-th, a minute apart)."""
    start = (1_767_225_600 + 60 * number) * 10**9  # 2026-01-01, in RUNS order
    history = [Message("user", [Part("text", content=run.task)])]
    turns = []
    for index, step in enumerate(run.steps):
        calls = [
            ToolCall(
                id=f"call-{index}-{n}",
                name=call.name,
                arguments=call.arguments,
                result=call.result,
                status="error" if call.error_type else "ok",
                error_type=call.error_type,
                result_source="execute_tool_span",
            )
            for n, call in enumerate(step.calls)
        ]
        parts = [Part("tool_call", id=c.id, name=c.name, arguments=c.arguments) for c in calls]
        if step.text:
            parts.insert(0, Part("text", content=step.text))
        output = [Message("assistant", parts, finish_reason=step.finish)] if parts else []
        finish = step.finish or ("tool_calls" if calls else "stop")
        turns.append(
            Turn(
                index=index,
                trace_id=run.id,
                span_id=f"{index + 1:016x}",
                request_model="gpt-4o-mini",
                start_time_unix_nano=start + index * 10**9,
                end_time_unix_nano=start + index * 10**9 + 5 * 10**8,
                input_messages=list(history),
                output_messages=output,
                tool_calls=calls,
                finish_reasons=[] if step.error_type else [finish],
                error_type=step.error_type,
                status_message=step.status_message,
            )
        )
        history += output + [
            Message("tool", [Part("tool_call_response", id=c.id, response=c.result)]) for c in calls
        ]
    attributes: dict[str, Any] = {}
    if run.explicit:
        attributes["trajotel.outcome"] = run.explicit
    if run.reward is not None:
        attributes["trajotel.reward"] = run.reward
    root = {"SpanAttributes": attributes, "StatusCode": "Unset", "SpanName": f"invoke_agent {run.agent}"}
    return Trajectory(
        id=run.id,
        task=run.task,
        agent_name=run.agent,
        service_name="learn-tests",
        status="complete",
        outcome=outcome(root, turns, complete=True),
        reward=run.reward,
        trace_ids=[run.id],
        start_time_unix_nano=start,
        end_time_unix_nano=start + len(turns) * 10**9,
        models=["gpt-4o-mini"],
        tools_used=sorted({c.name for t in turns for c in t.tool_calls}),
        turns=turns,
    )


def seed(data_dir: str) -> None:
    from trajotel.config import EnrichConfig, load_config
    from trajotel.enrich.runner import from_config, process
    from trajotel.enrich.stage import StageResult
    from trajotel.store import Store, enrichments
    from trajotel.store.trajectories import write_trajectories

    config = load_config(data_dir=data_dir)
    trajectories = [trajectory(run, number) for number, run in enumerate(RUNS)]
    with Store.open(config.clickhouse_url, database=config.store.database) as store:
        write_trajectories(store, [(t, f"fp-{t.id}") for t in trajectories], set())
        judged = []
        for t in trajectories:
            if BY_ID[t.id].judge is not None:
                score, summary = BY_ID[t.id].judge
                label = "success" if score >= 0.5 else "failure"
                result = {"summary": summary, "outcome": label, "score": score, "model": "fake-judge"}
                judged.append((t, StageResult(t.id, result, score=score, label=label, summary=summary)))
        enrichments.write(store, "judge", "1:fake-judge", judged)
        # The real stages, as the collector runs them (keywords after the judge: its summary is indexed).
        report = process(from_config(EnrichConfig(), store, ["heuristic", "keywords"]), [
            ("default", t.id) for t in trajectories
        ])  # fmt: skip
        assert all(stage["failed"] == 0 for stage in report["stages"]), report


if __name__ == "__main__":
    seed(sys.argv[1])
