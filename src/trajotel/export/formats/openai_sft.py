"""OpenAI supervised fine-tuning chat JSONL (also read by Fireworks, Azure, NeMo-RL, LLaMA-Factory).

One line per example: ``messages`` (system, user, assistant with ``tool_calls`` whose
``arguments`` are JSON strings, ``tool`` with ``tool_call_id``) and ``tools`` (function tools).
Assistant messages carry ``weight``: 1 for what this trajectory's model produced, 0 for history
it was given (few-shot examples, an earlier session). Reasoning is dropped by default: OpenAI has
no field for it (``--reasoning keep`` writes ``reasoning_content``, as Fireworks reads).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from trajotel.assemble.model import Trajectory
from trajotel.export import chat, shaping
from trajotel.export.format import ExportOptions, Format


def record(trajectory: Trajectory, example: shaping.Conversation, style: chat.ChatStyle) -> dict[str, Any]:
    out: dict[str, Any] = {"messages": chat.chat_messages(example.messages, style, example.trainable)}
    if tools := chat.chat_tools(trajectory):
        out["tools"] = tools
    return out


def records(items: Sequence[Trajectory], options: ExportOptions) -> Iterator[dict[str, Any]]:
    style = chat.style(
        options, arguments="string", reasoning=False, weights=True, names=True, json_arguments=True
    )
    yield from shaping.each_example(items, options, lambda t, e: record(t, e, style))


FORMAT = Format(
    name="openai-sft",
    description="OpenAI chat fine-tuning JSONL: messages with tool calls and per-message weights, tools",
    levels=("trajectory", "turn"),
    records=records,
)
