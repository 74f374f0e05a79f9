"""Generated trajectories for the export tests and bench/export.py: deterministic by index, with
every field of the model set (``full``) or the plain shape of a tool-calling run.

Times are whole microseconds where the store keeps microseconds (assembled_at, feedback), so a
trajectory written and read back is equal to the one generated.
"""

from __future__ import annotations

from collections.abc import Iterator

from trajotel.assemble.model import Feedback, Message, Outcome, Part, ToolCall, Trajectory, Turn, Usage

T0 = 1_790_000_000_000_000_000  # 2026-09-21, nanoseconds
TASKS = 50  # trajectories i and i + TASKS share a task (groups for GRPO / ART)


def _text(role: str, text: str) -> Message:
    return Message(role=role, parts=[Part(type="text", content=text)])


def trajectory(
    i: int,
    *,
    turns: int = 3,
    full: bool = False,
    tenant: str = "default",
    start_ns: int | None = None,
    text_chars: int = 200,
) -> Trajectory:
    """Agent run ``i``: ``turns - 1`` tool-calling turns, then the answer."""
    start = T0 + i * 1_000_000_000 if start_ns is None else start_ns
    tid = f"{i:032x}"
    task = f"Task {i % TASKS}: weather in city {i % TASKS} and a sum"
    filler = ("lorem ipsum dolor sit amet " * (1 + text_chars // 27))[:text_chars]
    system = _text("system", "You are a helpful assistant. Use the tools.")
    history = [system, _text("user", task)]
    built: list[Turn] = []
    for t in range(turns):
        last = t == turns - 1
        begin = start + t * 10_000_000
        parts: list[Part] = []
        if full:
            parts.append(Part(type="reasoning", content=f"thinking about step {t} of run {i}"))
        calls: list[ToolCall] = []
        if last:
            parts.append(Part(type="text", content=f"Answer for run {i}: {filler}"))
        else:
            args = {"city": f"city {i % TASKS}", "step": t, "nested": {"k": [1, 2.5, True, None]}}
            call = ToolCall(
                id=f"call_{i}_{t}",
                name="get_weather" if t % 2 == 0 else "add",
                arguments=args,
                result={"forecast": "rain", "temp_c": 11 + t, "note": filler},
                status="error" if full and t == 1 else "ok",
                error_type="ToolError" if full and t == 1 else None,
                span_id=f"{t + 1:016x}" if full else None,
                start_time_unix_nano=begin + 5_000_000 if full else None,
                end_time_unix_nano=begin + 6_000_000 if full else None,
                result_source="execute_tool_span" if full else "next_input",
            )
            calls.append(call)
            parts.append(Part(type="tool_call", id=call.id, name=call.name, arguments=args))
        output = Message(
            role="assistant",
            parts=parts,
            finish_reason="stop" if last else "tool_calls",
            extra={"x_vendor": {"i": i}} if full else {},
        )
        turn = Turn(
            index=t,
            trace_id=tid,
            span_id=f"{t + 100:016x}",
            provider="openai",
            request_model="gpt-4o-mini",
            response_model="gpt-4o-mini-2024-07-18" if full else None,
            response_id=f"resp_{i}_{t}" if full else None,
            start_time_unix_nano=begin,
            end_time_unix_nano=begin + 4_000_000,
            input_messages=list(history),
            output_messages=[output],
            tool_calls=calls,
            finish_reasons=["stop" if last else "tool_calls"],
            usage=Usage(100 + t, 20, 5, 1, 3) if full else Usage(input_tokens=100 + t, output_tokens=20),
            error_type=None,
            status_message="slow" if full and t == 0 else None,
            reward=0.25 * t if full else None,
            output_token_ids=[1, 2, t] if full else [],
            output_logprobs=[-0.5, -0.25, -0.125] if full else [],
            prompt_token_ids=[7, 8, 9, t] if full else [],
        )
        built.append(turn)
        history = [*history, output]
        for call in calls:
            response = Part(type="tool_call_response", id=call.id, response=call.result)
            extra_parts = [Part(type="uri", uri=f"https://example.com/{i}", modality="image")] if full else []
            history.append(Message(role="tool", parts=[response, *extra_parts]))
    reward = (i % 4) / 4
    traj = Trajectory(
        id=tid,
        version=1 + (i % 3 if full else 0),
        tenant=tenant,
        service_name="export-tests",
        agent_name="weather-agent" if i % 2 == 0 else "helper-agent",
        agent_id=f"agent-{i % 2}" if full else None,
        task=task,
        framework="trajotel" if full else None,
        trace_ids=[tid],
        root_span_id=f"{0:016x}" if full else None,
        parent_trajectory_id=None,
        conversation_id=f"conv-{i}" if full else None,
        start_time_unix_nano=start,
        end_time_unix_nano=start + turns * 10_000_000,
        status="complete",
        outcome=Outcome(
            label="success" if reward >= 0.5 else "failure",
            confidence=0.9,
            reasons=["explicit reward"] if full else [],
            source="heuristic",
        ),
        reward=reward,
        tags=["synthetic", f"batch-{i % 5}"] if full else [],
        metadata={"dataset": "synthetic", "i": str(i)} if full else {},
        models=["gpt-4o-mini"],
        tools_used=sorted({c.name for turn in built for c in turn.tool_calls}),
        usage=sum((turn.usage for turn in built), Usage()),
        system_instructions=[Part(type="text", content="Be brief.")] if full else [],
        tool_definitions=[
            {
                "type": "function",
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            }
        ]
        if full
        else [],
        turns=built,
        span_count=1 + 2 * turns,
        assembled_at_unix_nano=start + 60_000_000_000 + 123_000,  # whole microseconds
    )
    if full:
        traj.feedback = [
            Feedback(
                id=f"fb{i}",
                trajectory_id=tid,
                turn_index=None,
                source="rule",
                value=reward,
                label="graded",
                comment="checked",
                author="grader",
                created_at_unix_nano=start + 90_000_000_000,
            )
        ]
    return traj


def trajectories(n: int, *, start: int = 0, **options: object) -> Iterator[Trajectory]:
    for i in range(start, start + n):
        yield trajectory(i, **options)  # type: ignore[arg-type]
