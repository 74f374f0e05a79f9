"""TRL preference dataset (DPOTrainer, RewardTrainer, CPO/ORPO): ``prompt``, ``chosen``, ``rejected``.

Runs of one task are paired by reward (``shaping.preference_pairs``); the prompt is what both
runs saw before they differed (it ends with a user or tool message), ``chosen`` and
``rejected`` are the rest of each conversation. ``tools`` is a JSON string (DPOTrainer
``json.loads`` it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from trajotel.assemble.model import Trajectory
from trajotel.export import chat, shaping
from trajotel.export.format import ExportOptions, Format


def pair(
    chosen: Trajectory, rejected: Trajectory, options: ExportOptions, style: chat.ChatStyle
) -> dict[str, Any] | None:
    a = shaping.main_conversation(chosen, options)
    b = shaping.main_conversation(rejected, options)
    split = shaping.split_pair(a.messages, b.messages) if a and b else None
    if split is None:
        return None
    prompt, (better, worse) = chat.chat_branches(split[0], split[1:], style)
    return {"prompt": prompt, "chosen": better, "rejected": worse, "tools": chat.tools_json(chosen)}


def records(items: Sequence[Trajectory], options: ExportOptions) -> Iterator[dict[str, Any]]:
    style = chat.hf_style(options)
    for chosen, rejected in shaping.preference_pairs(items):
        found = shaping.expressed(chosen, pair, chosen, rejected, options, style)
        if found is not None:
            yield found


FORMAT = Format(
    name="trl-dpo",
    description="TRL preference rows: prompt, chosen, rejected (pairs of runs of one task by reward)",
    grouped=True,
    records=records,
)
