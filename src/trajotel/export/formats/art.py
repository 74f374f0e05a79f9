"""OpenPipe ART trajectory groups, JSONL: one ``{"trajectories": [...]}`` group per line, as
ART's ``serialize_trajectory_groups`` writes and ``deserialize_trajectory_groups`` reads.

A group is the runs of one task that have a reward (at least two; ART's GRPO advantage is a
run's reward minus the group's mean). Per run: ``messages_and_choices`` is the main
conversation, where the run's own assistant messages are OpenAI ``Choice`` objects (what ART
trains; history it was given stays plain messages), ``additional_histories`` the run's other
chains (a reset or rewritten context), ``tools``, ``reward``, ``metrics`` (turns, tool calls,
failed tool calls, tokens, duration) and ``metadata`` (trajectory id, task, outcome and the
run's metadata). Choices carry no logprobs (ART's JSONL drops them): train with ART's
``allow_training_without_logprobs``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from trajotel.assemble.model import Trajectory
from trajotel.export import chat, shaping
from trajotel.export.format import ExportOptions, Format

# GenAI finish reasons -> the values OpenAI's Choice accepts.
_FINISH = {"stop": "stop", "length": "length", "tool_call": "tool_calls", "content_filter": "content_filter"}


def _choice(message: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
    finish = _FINISH.get(finish_reason or "")
    if finish is None or (finish == "tool_calls") != bool(message.get("tool_calls")):
        finish = "tool_calls" if message.get("tool_calls") else "stop"
    return {"finish_reason": finish, "index": 0, "message": message}


def history(conversation: shaping.Conversation, style: chat.ChatStyle) -> list[dict[str, Any]]:
    """Messages, the run's own assistant messages as Choices."""
    converter = chat.Converter(style)
    items: list[dict[str, Any]] = []
    for message, trainable in zip(conversation.messages, conversation.trainable, strict=True):
        converted = converter.message(message)
        if trainable:
            converted = [_choice(m, message.finish_reason) for m in converted]
        items.extend(converted)
    return items


def _metrics(trajectory: Trajectory) -> dict[str, float | int]:
    calls = [c for t in trajectory.turns for c in t.tool_calls]
    metrics: dict[str, float | int | None] = {
        "turns": len(trajectory.turns),
        "tool_calls": len(calls),
        "tool_errors": sum(1 for c in calls if c.status == "error"),
        "input_tokens": trajectory.usage.input_tokens,
        "output_tokens": trajectory.usage.output_tokens,
        "duration_s": trajectory.duration_ms / 1000 if trajectory.end_time_unix_nano else None,
    }
    return {k: v for k, v in metrics.items() if v is not None}


def trajectory_record(trajectory: Trajectory, options: ExportOptions, style: chat.ChatStyle) -> dict | None:
    found = shaping.conversations(trajectory, options)
    if not found or trajectory.reward is None:
        return None
    tools = chat.chat_tools(trajectory) or None
    metadata: dict[str, Any] = {
        "trajectory_id": trajectory.id,
        "task": trajectory.task,
        "outcome": trajectory.outcome.label,
    }
    for key, value in trajectory.metadata.items():
        metadata.setdefault(key, value)
    return {
        "reward": float(trajectory.reward),
        "metrics": _metrics(trajectory),
        "metadata": metadata,
        "messages_and_choices": history(found[-1], style),
        "tools": tools,
        "additional_histories": [
            {"messages_and_choices": history(c, style), "tools": tools} for c in found[:-1]
        ],
        "logs": [],
    }


def records(items: Sequence[Trajectory], options: ExportOptions) -> Iterator[dict[str, Any]]:
    # Text content only: ART's Parquet logs hold message content as a string.
    style = chat.style(options, arguments="string", reasoning=False, json_arguments=True, media=False)
    runs = [r for t in items if (r := shaping.expressed(t, trajectory_record, t, options, style)) is not None]
    if len(runs) >= 2:
        yield {"trajectories": runs}


FORMAT = Format(
    name="art",
    description="OpenPipe ART trajectory groups (JSONL, one group per line): messages and choices, reward",
    grouped=True,
    records=records,
)
