"""TRL SFT dataset (JSONL that ``datasets`` loads; SFTTrainer).

Trajectory level: *language modeling* rows, ``messages`` (the whole conversation; train with
``assistant_only_loss=True`` so only assistant messages count). Turn level: *prompt-completion*
rows, ``prompt`` (the call's input) and ``completion`` (its output), loss on the completion.
``tools`` is a JSON string, which SFTTrainer ``json.loads``. Tool-call arguments are objects and
reasoning is ``reasoning_content`` by default: what the chat template renders decides, so check
yours (``--tool-arguments string`` for templates that print them, e.g. DeepSeek-V3).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from trajotel.assemble.model import Trajectory
from trajotel.export import chat, shaping
from trajotel.export.format import ExportOptions, Format


def record(
    trajectory: Trajectory, example: shaping.Conversation, style: chat.ChatStyle, level: str
) -> dict[str, Any]:
    if level == "turn":
        prompt, (completion,) = chat.chat_branches(example.messages[:-1], [example.messages[-1:]], style)
        out: dict[str, Any] = {"prompt": prompt, "completion": completion}
    else:
        out = {"messages": chat.chat_messages(example.messages, style)}
    out["tools"] = chat.tools_json(trajectory)
    return out


def records(items: Sequence[Trajectory], options: ExportOptions) -> Iterator[dict[str, Any]]:
    style = chat.hf_style(options)
    yield from shaping.each_example(items, options, lambda t, e: record(t, e, style, options.level))


FORMAT = Format(
    name="trl-sft",
    description="TRL SFT rows: messages (trajectory) or prompt/completion (turn), tools as a JSON string",
    levels=("trajectory", "turn"),
    records=records,
)
