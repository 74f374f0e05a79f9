"""Reading a trajectory as short text for agents and prompts (used by ``learn`` and ``fewshot``):
its task, its tool calls in order, its final answer, a built summary; everything long is cut to
a ``Limits`` field with a visible ``[... N more characters]`` marker. Model types only: no store."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trajotel.assemble.model import Trajectory


@dataclass(frozen=True)
class Limits:
    """How much comes back, in characters unless said otherwise; longer text is cut with a
    visible ``[... N more characters]`` marker."""

    task_chars: int = 300
    summary_chars: int = 400
    arguments_chars: int = 300  # a tool call's arguments as JSON; longer ones become cut text
    result_chars: int = 400  # a tool result
    answer_chars: int = 1500  # a final answer
    excerpt_chars: int = 300  # the example excerpt of a failure pattern
    example_ids: int = 5  # run ids listed per failure pattern
    digest_patterns: int = 8  # patterns the failure digest lists
    fetch: int = 100  # candidates asked of the search at most (the collector's [search] max_k)


def cut(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` characters, else its start and a visible marker."""
    if len(text) <= limit:
        return text
    kept = limit
    for _ in range(2):  # the marker's length depends on the number it shows
        marker = f" [... {len(text) - kept} more characters]"
        kept = max(0, limit - len(marker))
    return text[:kept] + marker


def as_text(value: Any) -> str:
    """A tool result or arguments as text: strings as they are, other JSON values compact."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)


def task_of(trajectory: Trajectory) -> str:
    """Its task, else its first user message (as the search index does)."""
    if trajectory.task:
        return trajectory.task
    for turn in trajectory.turns[:1]:
        for message in turn.input_messages:
            if message.role == "user":
                return text_of(message.parts)
    return ""


def final_answer(trajectory: Trajectory) -> str:
    """The last text the model produced."""
    for turn in reversed(trajectory.turns):
        for message in reversed(turn.output_messages):
            if text := text_of(message.parts):
                return text
    return ""


def text_of(parts: list[Any]) -> str:
    return "\n".join(p.content for p in parts if p.type == "text" and p.content).strip()


def steps(trajectory: Trajectory, limits: Limits) -> list[dict[str, Any]]:
    """Every tool call of the run in order: tool, arguments, result excerpt, status."""
    out = []
    for turn in trajectory.turns:
        for call in turn.tool_calls:
            arguments = call.arguments
            if len(as_text(arguments)) > limits.arguments_chars:
                arguments = cut(as_text(arguments), limits.arguments_chars)
            step = {
                "tool": call.name,
                "arguments": arguments,
                "result": cut(as_text(call.result), limits.result_chars),
                "status": call.status,
            }
            if call.error_type:
                step["error_type"] = call.error_type
            out.append(step)
    return out


def built_summary(trajectory: Trajectory, limits: Limits) -> str:
    """A short summary when the judge wrote none: how it ended, the tools, the final answer."""
    parts = []
    outcome = trajectory.outcome
    if outcome.label != "success" and outcome.reasons:
        parts.append(f"Ended {outcome.label}: {'; '.join(outcome.reasons)}.")
    calls = [c for turn in trajectory.turns for c in turn.tool_calls]
    if calls:
        names = ", ".join(dict.fromkeys(c.name for c in calls))
        failed = sum(c.status == "error" for c in calls)
        parts.append(f"Tools: {names} ({len(calls)} calls, {failed} failed).")
    if answer := final_answer(trajectory):
        parts.append(f"Answer: {' '.join(answer.split())}")
    return cut(" ".join(parts), limits.summary_chars)
