"""Microsoft Agent Lightning (0.3) triplets, JSONL, as its ``TracerTraceToTriplet`` adapter builds
them from LLM-call spans: at turn level one ``Triplet`` per model call; at trajectory level one
rollout per line in the shape of its ``RolloutLegacy`` (``rollout_id``, ``task``,
``final_reward``, ``triplets``, ``metadata``).

A triplet: ``prompt`` ``{token_ids, raw_content, image_urls}`` (the call's prompt token ids when the
server returned them, its input messages, the image URLs in it), ``response`` ``{token_ids,
raw_content}`` (output token ids, the output message; ``logprobs`` when recorded),
``reward`` (the turn's reward or credit; None when there is none) and ``metadata``
(``rollout_id`` = the trajectory id, ``turn_index``, ``response_id``, ``agent_name``, the request
and response models). Agent Lightning trains on the token ids: export from a server that
returns them (vLLM's ``return_token_ids``), else the triplets carry text only. Messages are
what its tracer records (OpenLLMetry's shape): OpenAI chat messages whose tool calls are
``{id, name, arguments}``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from trajotel.assemble.model import Trajectory, Turn
from trajotel.export import chat, shaping
from trajotel.export.format import ExportOptions, Format


def _image_urls(messages: list[dict[str, Any]]) -> list[str]:
    return [
        item["image_url"]["url"]
        for m in messages
        if isinstance(m.get("content"), list)
        for item in m["content"]
        if item.get("type") == "image_url"
    ]


def recorded(message: dict[str, Any]) -> dict[str, Any]:
    """A chat message as Agent Lightning's tracer records it (OpenLLMetry's flattened
    ``gen_ai.prompt.N.*``, which its adapters unflatten): tool calls as ``{id, name, arguments}``."""
    if "tool_calls" not in message:
        return message
    calls = [
        {"id": c["id"], "name": c["function"]["name"], "arguments": c["function"]["arguments"]}
        for c in message["tool_calls"]
    ]
    return {**message, "tool_calls": calls}


def triplet(
    trajectory: Trajectory, turn: Turn, reward: float | None, options: ExportOptions, style: chat.ChatStyle
) -> dict[str, Any] | None:
    example = shaping.turn_example(trajectory, turn, options)
    if example is None:
        return None
    prompt, (completion,) = chat.chat_branches(example.messages[:-1], [example.messages[-1:]], style)
    prompt, completion = [recorded(m) for m in prompt], [recorded(m) for m in completion]
    response: dict[str, Any] = {"token_ids": list(turn.output_token_ids), "raw_content": completion}
    if turn.output_logprobs:
        response["logprobs"] = list(turn.output_logprobs)
    return {
        "prompt": {
            "token_ids": list(turn.prompt_token_ids),
            "raw_content": prompt,
            "image_urls": _image_urls(prompt),
        },
        "response": response,
        "reward": reward,
        "metadata": {
            "rollout_id": trajectory.id,
            "turn_index": turn.index,
            "response_id": turn.response_id,
            "agent_name": trajectory.agent_name or "",
            "request": {"model": turn.request_model},
            "response": {
                "model": turn.response_model or turn.request_model,
                "finish_reasons": turn.finish_reasons,
            },
        },
    }


def triplets(trajectory: Trajectory, options: ExportOptions, style: chat.ChatStyle) -> list[dict[str, Any]]:
    rewards = shaping.turn_rewards(trajectory, options)
    found = [
        shaping.expressed(trajectory, triplet, trajectory, turn, reward, options, style)
        for turn, reward in zip(trajectory.turns, rewards, strict=True)
    ]
    return [t for t in found if t is not None]


def rollout(trajectory: Trajectory, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "rollout_id": trajectory.id,
        "task": {"rollout_id": trajectory.id, "input": trajectory.task or "", "mode": "train"},
        "final_reward": trajectory.reward,
        "triplets": items,
        "metadata": {
            "agent_name": trajectory.agent_name,
            "outcome": trajectory.outcome.label,
            "status": trajectory.status,
            **trajectory.metadata,
        },
    }


def records(items: Sequence[Trajectory], options: ExportOptions) -> Iterator[dict[str, Any]]:
    style = chat.style(options, arguments="string", reasoning=False)
    for trajectory in items:
        found = triplets(trajectory, options, style)
        if options.level == "turn":
            yield from found
        elif found:
            yield rollout(trajectory, found)


FORMAT = Format(
    name="agent-lightning",
    description="Agent Lightning triplets (JSONL, one per model call): token ids, messages, reward",
    levels=("trajectory", "turn"),
    records=records,
)
