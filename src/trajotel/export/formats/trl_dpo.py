"""TRL preference dataset (DPOTrainer, RewardTrainer, CPO/ORPO): ``prompt``, ``chosen``, ``rejected``.

Runs of one task are paired by reward (``shaping.preference_pairs``); the prompt is what both
runs saw before they differed (it ends with a user or tool message), ``chosen`` and
``rejected`` are the rest of each conversation. ``tools`` is a JSON string (DPOTrainer
``json.loads`` it).

Parquet: one fixed schema, messages as one struct and tool-call arguments as JSON strings
(see ``trl_sft``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from trajotel.assemble.model import Trajectory
from trajotel.export import chat, shaping
from trajotel.export.format import ExportOptions, Format
from trajotel.export.formats import _parquet


def pair(
    chosen: Trajectory, rejected: Trajectory, options: ExportOptions, style: chat.ChatStyle
) -> dict[str, Any] | None:
    a = shaping.main_conversation(chosen, options)
    b = shaping.main_conversation(rejected, options)
    split = shaping.split_pair(a.messages, b.messages) if a and b else None
    if split is None:
        return None
    prompt, (better, worse) = chat.chat_branches(split[0], split[1:], style)
    if options.file_type == "parquet":
        for messages in (prompt, better, worse):
            _parquet.check_messages(messages)
    return {"prompt": prompt, "chosen": better, "rejected": worse, "tools": chat.tools_json(chosen)}


def parquet_schema() -> Any:
    import pyarrow as pa

    messages = _parquet.messages_type()
    return pa.schema(
        [("prompt", messages), ("chosen", messages), ("rejected", messages), ("tools", pa.string())]
    )


def records(items: Sequence[Trajectory], options: ExportOptions) -> Iterator[dict[str, Any]]:
    style = _parquet.hf_style(options)
    yield from shaping.each_pair(items, lambda chosen, rejected: pair(chosen, rejected, options, style))


FORMAT = Format(
    name="trl-dpo",
    description="TRL preference rows: prompt, chosen, rejected (pairs of runs of one task by reward)",
    file_types=("jsonl", "parquet"),
    grouped=True,
    records=records,
    parquet_schema=parquet_schema,
)
