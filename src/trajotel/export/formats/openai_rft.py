"""OpenAI reinforcement fine-tuning JSONL: the prompt plus free-form fields for the grader.

A line is the run's prompt as ``messages`` (system instructions as a ``developer`` message, then
the task; it ends with the user message the model answers), ``tools``, and fields a grader reads
as ``{{ item.<key> }}``: ``task``, ``reference_answer`` (the recorded run's final answer),
``reference_reward``, ``outcome``, ``trajectory_id`` and the metadata keys asked for
(``ExportOptions.metadata_keys``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from trajotel.assemble.model import Trajectory
from trajotel.export import chat, shaping
from trajotel.export.format import ExportOptions, Format


def prompt_record(
    trajectory: Trajectory, options: ExportOptions, style: chat.ChatStyle
) -> dict[str, Any] | None:
    prompt = shaping.prompt(trajectory, options)
    if not prompt:
        return None
    out: dict[str, Any] = {"messages": chat.chat_messages(prompt, style)}
    if tools := chat.chat_tools(trajectory):
        out["tools"] = tools
    return out


def records(items: Sequence[Trajectory], options: ExportOptions) -> Iterator[dict[str, Any]]:
    style = chat.style(
        options, arguments="string", reasoning=False, names=True, json_arguments=True, system_role="developer"
    )
    for trajectory in items:
        out = shaping.expressed(trajectory, prompt_record, trajectory, options, style)
        if out is not None:
            yield {**shaping.reference_fields(trajectory, options), **out}  # metadata never hides messages


FORMAT = Format(
    name="openai-rft",
    description="OpenAI reinforcement fine-tuning JSONL: prompt, tools and reference fields for graders",
    records=records,
)
