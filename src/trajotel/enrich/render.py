"""A trajectory as text for an LLM judge, under a character budget.

Each turn shows only the messages new to it (the history the previous turn already showed is not
repeated), the model's output and its tool calls with their results. A rendering longer than the
budget is cut in the middle with a visible marker (the judge is told what it cannot see): the
start (task, first steps) and the larger end (how the run finished) are kept.
"""

from __future__ import annotations

import json
from typing import Any

from trajotel.assemble.model import Message, Part, Trajectory, Turn

MARKER = "[... {omitted} characters of the trajectory omitted to fit the judge's input budget ...]"
HEAD_SHARE = 1 / 3  # of the budget kept from the start; the rest from the end
PART_SHARE = 1 / 8  # no single message part takes more than this share of the budget


def truncate(text: str, max_chars: int) -> str:
    """``text`` if it fits, else its head and tail around the marker: at most ``max_chars``
    (or the marker alone, for budgets smaller than it)."""
    if len(text) <= max_chars:
        return text
    marker_room = len(MARKER.format(omitted=len(text))) + 2
    keep = max(0, max_chars - marker_room)
    head = int(keep * HEAD_SHARE)
    tail = keep - head
    marker = MARKER.format(omitted=len(text) - head - tail)
    return f"{text[:head]}\n{marker}\n{text[len(text) - tail :] if tail else ''}"


def is_truncated(text: str) -> bool:
    return MARKER.split("{omitted}")[1] in text


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f" [... {len(text) - limit} more characters]"


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _part(part: Part, shown_calls: set[str], limit: int) -> str | None:
    if part.type == "tool_call":
        return None  # shown with its result under the turn's tool calls
    if part.type == "tool_call_response":
        if part.id in shown_calls:
            return None
        return _clip(f"(tool result {part.id or ''}) {_value(part.response)}", limit)
    if part.content is not None:
        prefix = "(thinking) " if part.type == "reasoning" else ""
        return _clip(prefix + part.content, limit)
    return f"({part.type} part)"


def _message(message: Message, shown_calls: set[str], limit: int) -> str | None:
    texts = [t for p in message.parts if (t := _part(p, shown_calls, limit)) is not None]
    return f"[{message.role}] " + " ".join(texts) if texts else None


def _turn(turn: Turn, previous: Turn | None, shown_calls: set[str], limit: int) -> list[str]:
    model = turn.response_model or turn.request_model or "model"
    lines = [f"### Turn {turn.index} ({model})"]
    new_inputs = turn.input_messages[turn.inherited_input_count(previous) :]
    for message in (*new_inputs, *turn.output_messages):
        if (text := _message(message, shown_calls, limit)) is not None:
            lines.append(text)
    for call in turn.tool_calls:
        shown_calls.add(call.id)
        outcome = f"{call.status}: {_value(call.result)}" if call.result is not None else call.status
        lines.append(_clip(f"[tool call {call.name}] {_value(call.arguments)} -> {outcome}", limit))
    if turn.error_type:
        lines.append(f"[error] the model call failed: {turn.error_type} {turn.status_message or ''}".rstrip())
    if turn.finish_reason:
        lines.append(f"(finish reason: {turn.finish_reason})")
    return lines


def render(trajectory: Trajectory, max_chars: int) -> str:
    """The trajectory as text of at most ``max_chars`` characters."""
    limit = max(200, int(max_chars * PART_SHARE))
    lines = [
        f"Task: {trajectory.task or '(not recorded)'}",
        f"Agent: {trajectory.agent_name or trajectory.service_name or '(unknown)'}",
        f"Status: {trajectory.status}; turns: {len(trajectory.turns)}",
    ]
    if trajectory.system_instructions:
        system = " ".join(p.content or "" for p in trajectory.system_instructions)
        lines.append(_clip(f"System instructions: {system}", limit))
    if trajectory.tool_definitions:
        names = [
            str(d.get("name") or d.get("function", {}).get("name") or "?")
            for d in trajectory.tool_definitions
        ]
        lines.append(f"Tools available: {', '.join(names)}")
    shown_calls: set[str] = set()
    for turn, previous in zip(trajectory.turns, [None, *trajectory.turns], strict=False):
        lines += _turn(turn, previous, shown_calls, limit)
    return truncate("\n".join(lines), max_chars)
