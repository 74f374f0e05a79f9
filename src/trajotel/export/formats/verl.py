"""verl RL prompts, Parquet, for its multi-turn agent loop (``RLHFDataset``; ``agent_name``
``tool_agent`` runs the tool loop, ``single_turn_agent`` plain chat).

A row: ``data_source`` (``trajotel/<agent>``: the key verl's reward manager picks a scorer by),
``agent_name``, ``prompt`` (the run's first input: system and task, text only), ``ability``,
``reward_model`` (``style`` "rule", ``ground_truth``: the run's ``ground_truth`` metadata when
recorded, else its final answer) and ``extra_info`` (split, trajectory id, task, the recorded
reward and outcome, the metadata keys asked for as a JSON object string). The reward function
gets ``(data_source, solution_str, ground_truth, extra_info)``. Tool schemas are not part of a
row: verl reads them from its tool config file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from trajotel.assemble.model import Trajectory
from trajotel.export import chat, shaping
from trajotel.export.format import ExportOptions, Format


def parquet_schema() -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            ("data_source", pa.string()),
            ("agent_name", pa.string()),
            ("prompt", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
            ("ability", pa.string()),
            ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
            (
                "extra_info",
                pa.struct(
                    [
                        ("split", pa.string()),
                        ("trajectory_id", pa.string()),
                        ("task", pa.string()),
                        ("reference_reward", pa.float64()),
                        ("outcome", pa.string()),
                        ("need_tools_kwargs", pa.bool_()),
                        ("metadata", pa.string()),
                    ]
                ),
            ),
        ]
    )


def record(trajectory: Trajectory, options: ExportOptions, style: chat.ChatStyle) -> dict[str, Any] | None:
    prompt = shaping.prompt(trajectory, options)
    if not prompt:
        return None
    messages = [{"role": m["role"], "content": m["content"]} for m in chat.chat_messages(prompt, style)]
    tools = bool(chat.chat_tools(trajectory))
    metadata = {key: trajectory.metadata.get(key) for key in options.metadata_keys}
    return {
        "data_source": f"trajotel/{trajectory.agent_name or trajectory.service_name or 'agent'}",
        "agent_name": "tool_agent" if tools else "single_turn_agent",
        "prompt": messages,
        "ability": "tool_use" if tools else "chat",
        "reward_model": {
            "style": "rule",
            "ground_truth": trajectory.metadata.get("ground_truth") or shaping.final_answer(trajectory),
        },
        "extra_info": {
            "split": trajectory.metadata.get("split") or "train",
            "trajectory_id": trajectory.id,
            "task": trajectory.task,
            "reference_reward": trajectory.reward,
            "outcome": trajectory.outcome.label,
            "need_tools_kwargs": False,
            "metadata": json.dumps(metadata, ensure_ascii=False),
        },
    }


def records(items: Sequence[Trajectory], options: ExportOptions) -> Iterator[dict[str, Any]]:
    # The prompt is plain text messages (a prompt has no tool calls to shape).
    style = chat.style(options, arguments="object", reasoning=False, media=False, null_content=False)
    yield from shaping.each_trajectory(items, lambda t: record(t, options, style))


FORMAT = Format(
    name="verl",
    description="verl RL prompts (Parquet) for its agent loop: prompt, reward_model, extra_info",
    file_types=("parquet",),
    records=records,
    parquet_schema=parquet_schema,
)
