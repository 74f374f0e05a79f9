"""TRL unpaired preference dataset (KTOTrainer, BCO): ``prompt``, ``completion``, ``label``.

Trajectory level: the conversation cut before the run's first own message; ``label`` is the
outcome (success / failure), else whether the reward is positive. Turn level: a call's input and
output, labelled by whether the turn's reward (or credit) is positive. Rows without a label are
left out. ``tools`` is a JSON string.

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


def record(
    trajectory: Trajectory,
    example: shaping.Conversation,
    label: bool | None,
    style: chat.ChatStyle,
    parquet: bool = False,
) -> dict[str, Any] | None:
    if label is None:
        return None
    prompt_messages, completion_messages = shaping.split_at_first_trained(example)
    if not prompt_messages or not completion_messages:
        return None
    prompt, (completion,) = chat.chat_branches(prompt_messages, [completion_messages], style)
    if parquet:
        _parquet.check_messages(prompt)
        _parquet.check_messages(completion)
    return {"prompt": prompt, "completion": completion, "label": label, "tools": chat.tools_json(trajectory)}


def parquet_schema() -> Any:
    import pyarrow as pa

    messages = _parquet.messages_type()
    return pa.schema(
        [("prompt", messages), ("completion", messages), ("label", pa.bool_()), ("tools", pa.string())]
    )


def records(items: Sequence[Trajectory], options: ExportOptions) -> Iterator[dict[str, Any]]:
    style = _parquet.hf_style(options)
    parquet = options.file_type == "parquet"
    for trajectory in items:
        credits = shaping.turn_rewards(trajectory, options)
        rewards = {id(t): r for t, r in zip(trajectory.turns, credits, strict=True)}
        for example in shaping.examples(trajectory, options):
            if options.level == "turn":
                reward = rewards.get(id(example.end))
                label = None if reward is None else reward > 0
            else:
                label = shaping.desirable(trajectory)
            found = shaping.expressed(trajectory, record, trajectory, example, label, style, parquet)
            if found is not None:
                yield found


FORMAT = Format(
    name="trl-kto",
    description="TRL unpaired preference rows: prompt, completion, label (from outcome or reward)",
    file_types=("jsonl", "parquet"),
    levels=("trajectory", "turn"),
    records=records,
    parquet_schema=parquet_schema,
)
