#!/usr/bin/env python
"""Enrichment throughput (issue 5, item 6): trajectories/s through the runner into a fresh
embedded store, against the fake OpenAI-compatible judge with a realistic reply latency.

    .venv/bin/python bench/enrich.py [--trajectories N] [--latency S] [--concurrency 1,4,8] [--json OUT]

Workload: N assembled trajectories (task, 3 turns, 2 tool calls each, about 2 KB of messages),
written with the store's own ``write_trajectories``, so each is read back the way the worker
reads real ones. Synthetic: the judge's reply is scripted (the fake server answers every call
with the same valid judgement after ``--latency`` seconds), so the numbers measure trajotel's
side (finding, reading, rendering, validating, writing) plus waiting, not a model.

Measured per run, on a fresh database: the ``heuristic`` stage (no LLM), then the ``judge``
stage at each ``--concurrency``; wall time from the runner's start to the last result written.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from trajotel.assemble.model import Message, Part, ToolCall, Trajectory, Turn  # noqa: E402
from trajotel.config import EnrichConfig  # noqa: E402
from trajotel.enrich.runner import from_config  # noqa: E402
from trajotel.store import Store  # noqa: E402
from trajotel.store.trajectories import write_trajectories  # noqa: E402
from trajotel.testing import FakeLLMServer  # noqa: E402
from trajotel.testing.fake_llm.scenario import Step  # noqa: E402

JUDGEMENT = {
    "summary": "The agent checked the weather and did the sum.",
    "outcome": "success",
    "score": 0.8,
    "reasoning": "Right tools, right answer.",
    "decisions": [
        {
            "turn_index": 0,
            "type": "tool_selection",
            "reasoning": "needs data",
            "alternatives": ["guess"],
            "chosen_action": "get_weather",
            "confidence": 0.9,
        }
    ],
    "entities": [{"name": "Oslo", "type": "city", "first_turn": 0, "importance": 0.8, "relations": []}],
}


def _text(role: str, text: str) -> Message:
    return Message(role=role, parts=[Part(type="text", content=text)])


def synthetic(i: int) -> Trajectory:
    """One agent run: ask, two tool calls, answer (the shape of tests/e2e/programs/openai_loop.py)."""
    task = f"Weather in city {i} tomorrow, and {i} + {i}? Answer in a short table with metric units."
    history = [_text("system", "You are a helpful assistant. Use the tools."), _text("user", task)]
    turns = []
    for t, (tool, args, result) in enumerate(
        [
            ("get_weather", {"city": f"city {i}"}, {"forecast": "rain", "temp_c": 11}),
            ("add", {"a": i, "b": i}, 2 * i),
        ]
    ):
        call = ToolCall(id=f"c{i}_{t}", name=tool, arguments=args, result=result, status="ok")
        output = Message(
            role="assistant", parts=[Part(type="tool_call", id=call.id, name=tool, arguments=args)]
        )
        turns.append(
            Turn(
                index=t,
                trace_id=f"{i:032x}",
                span_id=f"{t:016x}",
                input_messages=list(history),
                output_messages=[output],
                tool_calls=[call],
                finish_reasons=["tool_calls"],
            )
        )
        response = Part(type="tool_call_response", id=call.id, response=result)
        history = [*history, output, Message(role="tool", parts=[response])]
    answer = _text("assistant", f"Tomorrow: rain, 11 C in city {i}. {i} + {i} = {2 * i}. " + "Details. " * 40)
    turns.append(
        Turn(
            index=2,
            trace_id=f"{i:032x}",
            span_id=f"{2:016x}",
            input_messages=history,
            output_messages=[answer],
            finish_reasons=["stop"],
        )
    )
    now = time.time_ns()
    return Trajectory(
        id=f"{i:032x}",
        task=task,
        agent_name="bench-agent",
        status="complete",
        turns=turns,
        start_time_unix_nano=now,
        end_time_unix_nano=now + 1,
        assembled_at_unix_nano=now,
    )


def measure(store: Store, config: EnrichConfig, stage: str, n: int) -> dict[str, Any]:
    runner = from_config(config, store, [stage])
    start = time.perf_counter()
    [report] = runner.run_pending(n)
    seconds = time.perf_counter() - start
    assert report.enriched == n, report
    return {
        "stage": stage,
        "trajectories": n,
        "seconds": round(seconds, 2),
        "per_s": round(n / seconds, 2),
        "input_tokens": report.input_tokens,
        "output_tokens": report.output_tokens,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trajectories", type=int, default=100)
    parser.add_argument("--latency", type=float, default=1.0, help="the fake judge's reply latency (s)")
    parser.add_argument("--concurrency", default="1,4,8")
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args()
    n = args.trajectories
    results: list[dict[str, Any]] = []
    scenarios = {"judge": [Step.text(json.dumps(JUDGEMENT))]}
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeLLMServer(scenarios=scenarios, latency_s=args.latency) as fake,
    ):
        for concurrency in [0, *map(int, args.concurrency.split(","))]:  # 0: the heuristic stage
            store = Store.open(f"chdb://{tmp}", database=f"bench_{uuid.uuid4().hex[:8]}")
            write_trajectories(store, [(synthetic(i), f"fp{i}") for i in range(n)], set())
            config = EnrichConfig(concurrency=max(1, concurrency))
            config.judge.model, config.judge.base_url = "judge", fake.base_url
            row = measure(store, config, "heuristic" if concurrency == 0 else "judge", n)
            row["concurrency"] = concurrency or 1
            row["latency_s"] = 0.0 if concurrency == 0 else args.latency
            results.append(row)
            print(json.dumps(row), flush=True)
            store.command(f"DROP DATABASE {store.database}")
            store.close()
    summary = {"machine": f"{platform.machine()}, {platform.python_version()}", "results": results}
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
