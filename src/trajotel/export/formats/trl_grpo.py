"""TRL prompt-only dataset (GRPOTrainer, RLOO, online DPO): ``prompt`` plus reward-function columns.

``prompt`` is the run's first input (system and task). Every other column reaches the reward
functions as a keyword argument: ``trajectory_id``, ``task``, ``reference_answer`` (the recorded
run's final answer), ``reference_reward``, ``outcome`` and the metadata keys asked for
(``ExportOptions.metadata_keys``). Runs of one task give one row each.

Parquet: one fixed schema, ``prompt`` as messages of one struct (see ``trl_sft``); the metadata
columns are strings there (a column has one type): string values as they are, other values as
JSON (``json.loads`` them in the reward function).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from trajotel.assemble.model import Trajectory
from trajotel.export import chat, shaping
from trajotel.export.format import ExportOptions, Format
from trajotel.export.formats import _parquet

# The reference columns and their Parquet types (metadata columns: strings).
_FIXED = {
    "trajectory_id": "string",
    "task": "string",
    "reference_answer": "string",
    "reference_reward": "float64",
    "outcome": "string",
}


def record(trajectory: Trajectory, options: ExportOptions, style: chat.ChatStyle) -> dict[str, Any] | None:
    prompt = shaping.prompt(trajectory, options)
    if not prompt:
        return None
    out = {**shaping.reference_fields(trajectory, options), "prompt": chat.chat_messages(prompt, style)}
    if options.file_type == "parquet":
        _parquet.check_messages(out["prompt"])
        for key, value in out.items():
            if key != "prompt" and key not in _FIXED:
                out[key] = _parquet.json_text(value)
    return out


def _schema(metadata_keys: list[str]) -> Any:
    import pyarrow as pa

    fields = [("prompt", _parquet.messages_type())]
    fields += [(key, pa.type_for_alias(kind)) for key, kind in _FIXED.items()]
    fields += [(key, pa.string()) for key in metadata_keys]
    return pa.schema(fields)


def parquet_schema() -> Any:
    """Rows without metadata columns (and an empty export's file)."""
    return _schema([])


def parquet_schema_of(record: dict[str, Any]) -> Any:
    """The reference columns plus the metadata keys asked for (the same for every row)."""
    return _schema([k for k in record if k != "prompt" and k not in _FIXED])


def records(items: Sequence[Trajectory], options: ExportOptions) -> Iterator[dict[str, Any]]:
    style = _parquet.hf_style(options)
    yield from shaping.each_trajectory(items, lambda t: record(t, options, style))


FORMAT = Format(
    name="trl-grpo",
    description="TRL prompt-only rows for GRPO: prompt plus reference columns for reward functions",
    file_types=("jsonl", "parquet"),
    records=records,
    parquet_schema=parquet_schema,
    parquet_schema_of=parquet_schema_of,
)
