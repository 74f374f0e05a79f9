"""Trae Agent trajectory JSON (what trae-agent's ``TrajectoryRecorder`` writes for a run).

One document per trajectory: ``task``, ``start_time`` / ``end_time`` (ISO 8601), ``provider``,
``model``, ``max_steps`` (the number of calls), ``llm_interactions`` (per model call: its input
messages, the response with content, finish reason, usage and tool calls, the tools available),
``agent_steps`` (per call: the new messages, the response, its tool calls and their results,
errors), ``success`` (the outcome was success), ``final_result`` (the final answer) and
``execution_time`` (seconds). Messages are Trae's ``{"role", "content"}`` with ``tool_call``
(one per assistant tool call) or ``tool_result`` (``call_id``, ``success``, ``result``,
``error``; a user message, as Trae sends results). Trae has no reasoning field.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from trajotel.assemble.model import Message, ToolCall, Trajectory, Turn
from trajotel.export import chat, shaping
from trajotel.export.format import ExportOptions, Format


def _time(unix_nano: int) -> str:
    return datetime.fromtimestamp(unix_nano / 1e9, tz=UTC).isoformat()


def _call(call_id: str | None, name: str | None, arguments: Any) -> dict[str, Any]:
    args = chat.arguments(arguments, "object", f"tool call {name!r}")
    return {"call_id": call_id or "", "name": name or "", "arguments": args, "id": call_id}


def messages(items: Sequence[Message]) -> list[dict[str, Any]]:
    """trajotel messages as Trae's serialized LLMMessages."""
    out: list[dict[str, Any]] = []
    for message in items:
        role = chat.role_of(message)
        text = chat.message_text(message)
        if role == "assistant":
            calls = [p for p in message.parts if p.type == "tool_call"]
            if text or not calls:
                out.append({"role": "assistant", "content": text})
            out.extend(
                {"role": "assistant", "content": None, "tool_call": _call(p.id, p.name, p.arguments)}
                for p in calls
            )
            continue
        results = [p for p in message.parts if p.type == "tool_call_response"]
        for part in results:
            result = {"call_id": part.id or "", "success": True, "result": chat.text_of(part.response)}
            out.append(
                {"role": "user", "content": None, "tool_result": {**result, "error": None, "id": part.id}}
            )
        if text or not results:
            out.append({"role": "system" if role in chat.SYSTEM_ROLES else role, "content": text})
    return out


def _usage(turn: Turn) -> dict[str, Any]:
    u = turn.usage
    return {
        "input_tokens": u.input_tokens or 0,
        "output_tokens": u.output_tokens or 0,
        "cache_creation_input_tokens": u.cache_write_input_tokens,
        "cache_read_input_tokens": u.cache_read_input_tokens,
        "reasoning_tokens": u.reasoning_output_tokens,
    }


def _response(turn: Turn) -> dict[str, Any] | None:
    output = shaping.output_of(turn)
    if output is None:
        return None
    calls = [_call(p.id, p.name, p.arguments) for p in output.parts if p.type == "tool_call"]
    return {
        "content": chat.message_text(output),
        "model": turn.response_model or turn.request_model,
        "finish_reason": turn.finish_reason,
        "usage": _usage(turn),
        "tool_calls": calls or None,
    }


def _result(call: ToolCall) -> dict[str, Any]:
    failed = call.status == "error"
    text = chat.text_of(call.result)
    return {
        "call_id": call.id,
        "success": call.status == "ok",
        "result": None if failed else text,
        "error": (text or call.error_type) if failed else None,
        "id": call.id,
    }


def record(trajectory: Trajectory, options: ExportOptions) -> dict[str, Any] | None:
    if not trajectory.turns:
        return None
    tools = [t["function"]["name"] for t in chat.chat_tools(trajectory)] or None
    interactions, steps = [], []
    previous: Turn | None = None
    for number, turn in enumerate(trajectory.turns, 1):
        inputs = shaping.prompt(trajectory, options, turn)
        response = _response(turn)
        if response is not None:
            interactions.append(
                {
                    "timestamp": _time(turn.start_time_unix_nano),
                    "provider": turn.provider or "",
                    "model": turn.request_model or "",
                    "input_messages": messages(inputs),
                    "response": response,
                    "tools_available": tools,
                }
            )
        new = turn.input_messages[turn.inherited_input_count(previous) :] if previous else inputs
        error = turn.error_type and " ".join(filter(None, [turn.error_type, turn.status_message]))
        steps.append(
            {
                "step_number": number,
                "timestamp": _time(turn.start_time_unix_nano),
                "state": "error" if error else "completed",
                "llm_messages": messages(new) or None,
                "llm_response": response,
                "tool_calls": [_call(c.id, c.name, c.arguments) for c in turn.tool_calls] or None,
                "tool_results": [_result(c) for c in turn.tool_calls if c.status != "pending"] or None,
                "reflection": None,
                "error": error or None,
            }
        )
        previous = turn
    first = trajectory.turns[0]
    return {
        "task": trajectory.task or "",
        "start_time": _time(trajectory.start_time_unix_nano),
        "end_time": _time(trajectory.end_time_unix_nano),
        "provider": first.provider or "",
        "model": first.request_model or "",
        "max_steps": len(trajectory.turns),
        "llm_interactions": interactions,
        "agent_steps": steps,
        "success": trajectory.outcome.label == "success",
        "final_result": shaping.final_answer(trajectory) or None,
        "execution_time": trajectory.duration_ms / 1000,
    }


def records(items: Sequence[Trajectory], options: ExportOptions) -> Iterator[dict[str, Any]]:
    yield from shaping.each_trajectory(items, lambda t: record(t, options))


FORMAT = Format(
    name="trae",
    description="Trae Agent trajectory JSON: task, llm_interactions, agent_steps, success, final_result",
    file_types=("jsonl", "json"),
    records=records,
)
