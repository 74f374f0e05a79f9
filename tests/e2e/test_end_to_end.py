"""The whole path, as a user runs it: a real openai-SDK agent under ``opentelemetry-instrument``,
a real ``trajotel collector`` process, a fake OpenAI-compatible server, then the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from trajotel.testing.collector_process import CollectorProcess
from trajotel.testing.fake_llm import FakeLLMServer

from tests.support.agent_runs import (
    COLLECTOR_ENV,
    OPENTELEMETRY_INSTRUMENT,
    agent_env,
    run_agent,
    wait_for,
)

REPO = Path(__file__).resolve().parents[2]


def _run_agent(collector: CollectorProcess, fake: FakeLLMServer) -> str:
    command = [OPENTELEMETRY_INSTRUMENT, sys.executable, str(REPO / "examples" / "weather_agent.py")]
    return run_agent(command, agent_env(collector, fake), timeout_s=120).stdout


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trajotel", *args], capture_output=True, text=True, timeout=120
    )


# --- the agent's side of the conversation, and the stored side, in one comparable shape --------
def _from_openai(message: dict[str, Any]) -> tuple[Any, ...]:
    calls = tuple(
        (c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
        for c in message.get("tool_calls") or []
    )
    content = message.get("content")
    if message["role"] == "tool":
        return ("tool", message["tool_call_id"], content)
    return (message["role"], content or None, calls)


def _from_semconv(message: dict[str, Any]) -> tuple[Any, ...]:
    parts = message["parts"]
    if message["role"] == "tool":
        (part,) = parts
        assert part["type"] == "tool_call_response"
        return ("tool", part["id"], part["response"])
    text = "".join(p["content"] for p in parts if p["type"] == "text") or None
    calls = tuple((p["id"], p["name"], p["arguments"]) for p in parts if p["type"] == "tool_call")
    return (message["role"], text, calls)


def test_instrumented_agent_run_is_stored_turn_by_turn(
    collector: CollectorProcess, fake_llm: FakeLLMServer
) -> None:
    stdout = _run_agent(collector, fake_llm)
    answer = [line for line in stdout.splitlines() if line.startswith("ANSWER: ")][-1][len("ANSWER: ") :]

    rows = wait_for(
        lambda: collector.query("SELECT trajectory_id, status FROM trajectories WHERE status = 'complete'"),
        what="a complete trajectory",
    )
    assert len(rows) == 1
    trajectory_id = rows[0]["trajectory_id"]
    trajectory = json.loads(collector.api("GET", f"/v1/trajectory?id={trajectory_id}"))
    from trajotel.assemble.model import Trajectory

    model = Trajectory.from_dict(trajectory)
    sent = [r["body"] for r in fake_llm.requests if r["path"].endswith("/chat/completions")]
    assert len(sent) == 3 and len(model.turns) == 3
    assert model.agent_name == "weather-agent"
    assert model.task == "What is the weather in Paris, and what is 21 + 21?"
    assert model.status == "complete"

    for index, (turn, request) in enumerate(zip(model.turns, sent, strict=True)):
        # Input: exactly the messages the agent sent, in order.
        assert [_from_semconv(m.to_semconv()) for m in turn.input_messages] == [
            _from_openai(m) for m in request["messages"]
        ]
        assert turn.request_model == request["model"]
        assert turn.provider == "openai"
        assert turn.usage.input_tokens and turn.usage.output_tokens
        # Output: exactly what the agent received (it appends the assistant message to its history).
        (output,) = turn.output_messages
        if index + 1 < len(sent):
            received = sent[index + 1]["messages"][len(request["messages"])]
            assert _from_semconv(output.to_semconv()) == _from_openai(received)
            assert turn.finish_reasons == ["tool_calls"]
        else:
            assert _from_semconv(output.to_semconv()) == ("assistant", answer, ())
            assert turn.finish_reasons == ["stop"]

    # Tool calls carry the results of the agent's execute_tool spans, which match what the
    # model was sent back in the next request.
    calls = [c for t in model.turns for c in t.tool_calls]
    assert [c.name for c in calls] == ["get_weather", "add"]
    for call in calls:
        assert call.status == "ok" and call.result_source == "execute_tool_span"
        tool_messages = [
            m for m in sent[-1]["messages"] if m["role"] == "tool" and m["tool_call_id"] == call.id
        ]
        assert json.loads(tool_messages[0]["content"]) == call.result
    assert model.span_count == 1 + 3 + 2

    # SQL and the CLI answer while the collector holds the store.
    data = str(collector.data_dir)
    counted = _cli("query", "SELECT count() FROM trajectories", "--data", data, "--format", "tsv")
    assert counted.returncode == 0, counted.stderr
    assert counted.stdout.strip() == "count()\n1"
    shown = _cli("trajectories", "show", trajectory_id, "--data", data)
    assert shown.returncode == 0, shown.stderr
    assert "turn 2" in shown.stdout and "get_weather" in shown.stdout and answer[:30] in shown.stdout
    as_json = _cli("trajectories", "show", trajectory_id, "--data", data, "--json")
    assert Trajectory.from_json(as_json.stdout) == model


def test_cli_reads_the_store_directly_when_no_collector_runs(tmp_path: Path, fake_llm: FakeLLMServer) -> None:
    process = CollectorProcess(tmp_path / "data", env=COLLECTOR_ENV)
    with process:
        _run_agent(process, fake_llm)
        wait_for(
            lambda: process.query("SELECT 1 FROM trajectories WHERE status = 'complete'"), what="assembly"
        )
    assert process.proc is not None and process.proc.returncode == 0
    listed = _cli("trajectories", "list", "--json", "--data", str(process.data_dir))
    assert listed.returncode == 0, listed.stderr
    (row,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert row["status"] == "complete" and row["turn_count"] == 3


def test_cli_errors_are_one_line_with_a_hint(tmp_path: Path) -> None:
    missing = _cli("query", "SELECT 1", "--data", str(tmp_path / "nothing-here"))
    assert missing.returncode == 1
    assert missing.stderr.startswith("trajotel: error: no trajotel data in")
    assert "hint:" in missing.stderr and "Traceback" not in missing.stderr
