"""OpenAI preference fine-tuning (DPO) JSONL (also Azure and Fireworks DPO).

Runs of one task are paired by reward (best with worst, ...; ``shaping.preference_pairs``).
A line holds the shared prompt as ``input{messages, tools}`` and where each run went from there
as ``preferred_output`` / ``non_preferred_output``: assistant and tool messages up to the next
user message, ending with an assistant message.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from trajotel.assemble.model import Message, Trajectory
from trajotel.export import chat, shaping
from trajotel.export.format import ExportOptions, Format


def outputs(messages: list[Message]) -> list[Message]:
    """The assistant/tool messages before the next user message, without trailing tool results."""
    kept: list[Message] = []
    for message in messages:
        if chat.role_of(message) not in ("assistant", "tool"):
            break
        kept.append(message)
    while kept and chat.role_of(kept[-1]) != "assistant":
        kept.pop()
    return kept


def pair(
    chosen: Trajectory, rejected: Trajectory, options: ExportOptions, style: chat.ChatStyle
) -> dict[str, Any] | None:
    a = shaping.main_conversation(chosen, options)
    b = shaping.main_conversation(rejected, options)
    split = shaping.split_pair(a.messages, b.messages) if a and b else None
    if split is None:
        return None
    prompt, better, worse = split[0], outputs(split[1]), outputs(split[2])
    if not better or not worse:
        return None
    messages, (preferred, non_preferred) = chat.chat_branches(prompt, [better, worse], style)
    out: dict[str, Any] = {"input": {"messages": messages}}
    if tools := chat.chat_tools(chosen):
        out["input"]["tools"] = tools
    out["preferred_output"] = preferred
    out["non_preferred_output"] = non_preferred
    return out


def records(items: Sequence[Trajectory], options: ExportOptions) -> Iterator[dict[str, Any]]:
    style = chat.style(options, arguments="string", reasoning=False, names=True, json_arguments=True)
    yield from shaping.each_pair(items, lambda chosen, rejected: pair(chosen, rejected, options, style))


FORMAT = Format(
    name="openai-dpo",
    description="OpenAI preference JSONL: input, preferred_output, non_preferred_output (pairs by reward)",
    grouped=True,
    records=records,
)
