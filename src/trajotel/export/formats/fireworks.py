"""Fireworks datasets, rows of eval-protocol's ``EvaluationRow`` (what ``ep create rft`` checks).

* ``fireworks`` (reinforcement fine-tuning): the run's prompt as ``messages`` (system and task),
  ``tools``, ``ground_truth`` (the run's ``ground_truth`` metadata when recorded, else its final
  answer; a run with neither is skipped: an evaluator has nothing to grade against) for the
  evaluator, and ``input_metadata`` (``row_id`` = the trajectory id,
  ``dataset_info``: task, reference answer, recorded reward and outcome, the metadata keys asked
  for).
* ``fireworks-sft``: OpenAI chat rows (``messages`` with per-assistant ``weight``, ``tools``)
  with the model's reasoning kept as ``reasoning_content``, as Fireworks trains reasoning
  models; at turn level one row per call.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from trajotel.assemble.model import Trajectory
from trajotel.export import chat, shaping
from trajotel.export.format import ExportOptions, Format
from trajotel.export.formats import openai_sft


def rft_row(trajectory: Trajectory, options: ExportOptions, style: chat.ChatStyle) -> dict[str, Any] | None:
    prompt = shaping.prompt(trajectory, options)
    if not prompt:
        return None
    reference = shaping.reference_fields(trajectory, options)
    ground_truth = trajectory.metadata.get("ground_truth") or reference["reference_answer"]
    if not ground_truth:
        return None
    row: dict[str, Any] = {"messages": chat.chat_messages(prompt, style)}
    if tools := chat.chat_tools(trajectory):
        row["tools"] = tools
    row["ground_truth"] = ground_truth
    row["input_metadata"] = {"row_id": trajectory.id, "dataset_info": reference}
    return row


def rft_records(items: Sequence[Trajectory], options: ExportOptions) -> Iterator[dict[str, Any]]:
    style = chat.style(options, arguments="string", reasoning=True, json_arguments=True)
    yield from shaping.each_trajectory(items, lambda t: rft_row(t, options, style))


def sft_records(items: Sequence[Trajectory], options: ExportOptions) -> Iterator[dict[str, Any]]:
    style = chat.style(options, arguments="string", reasoning=True, weights=True, json_arguments=True)
    yield from shaping.each_example(items, options, lambda t, e: openai_sft.record(t, e, style))


FORMATS = (
    Format(
        name="fireworks",
        description="Fireworks RFT rows (eval-protocol EvaluationRow): prompt, tools, ground_truth",
        records=rft_records,
    ),
    Format(
        name="fireworks-sft",
        description="Fireworks SFT rows: OpenAI chat messages with weights and reasoning_content, tools",
        levels=("trajectory", "turn"),
        records=sft_records,
    ),
)
