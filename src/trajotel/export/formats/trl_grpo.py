"""TRL prompt-only dataset (GRPOTrainer, RLOO, online DPO): ``prompt`` plus reward-function columns.

``prompt`` is the run's first input (system and task). Every other column reaches the reward
functions as a keyword argument: ``trajectory_id``, ``task``, ``reference_answer`` (the recorded
run's final answer), ``reference_reward``, ``outcome`` and the metadata keys asked for
(``ExportOptions.metadata_keys``). Runs of one task give one row each.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from trajotel.assemble.model import Trajectory
from trajotel.export import chat, shaping
from trajotel.export.format import ExportOptions, Format


def record(trajectory: Trajectory, options: ExportOptions, style: chat.ChatStyle) -> dict[str, Any] | None:
    prompt = shaping.prompt(trajectory, options)
    if not prompt:
        return None
    return {**shaping.reference_fields(trajectory, options), "prompt": chat.chat_messages(prompt, style)}


def records(items: Sequence[Trajectory], options: ExportOptions) -> Iterator[dict[str, Any]]:
    style = chat.hf_style(options)
    for trajectory in items:
        found = shaping.expressed(trajectory, record, trajectory, options, style)
        if found is not None:
            yield found


FORMAT = Format(
    name="trl-grpo",
    description="TRL prompt-only rows for GRPO: prompt plus reference columns for reward functions",
    records=records,
)
