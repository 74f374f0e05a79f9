"""ShareGPT JSONL as LLaMA-Factory reads it (``formatting: sharegpt``).

A row: ``conversations`` of ``{"from", "value"}`` with ``from`` in human / gpt / function_call /
observation, strictly alternating (human or observation, then gpt or function_call) and ending
with the model's message; ``system`` (the system prompt) and ``tools`` (a JSON string of
``{name, description, parameters}``). A tool-calling message is a ``function_call`` whose value
is the JSON call ``{"name", "arguments"}`` (a JSON list for parallel calls); the results that
follow are one ``observation`` (a JSON list of the results when there are several). What the
alternation cannot hold is merged: a user's text after tool results joins the observation,
consecutive user messages join. The text a model wrote beside its tool calls has no place in a
``function_call`` and is left out. Reasoning, when kept, prefixes the value as
``<think>...</think>`` (LLaMA-Factory's reasoning templates). Dataset entry::

    "trajotel": {"file_name": "export.jsonl", "formatting": "sharegpt",
                 "columns": {"messages": "conversations", "system": "system", "tools": "tools"}}
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from trajotel.assemble.model import Trajectory
from trajotel.export import chat, shaping
from trajotel.export.format import ExportOptions, Format

_ODD = ("human", "observation")  # what the model reads
_EVEN = ("gpt", "function_call")  # what the model writes


def _think(message: dict[str, Any], value: str) -> str:
    reasoning = message.get("reasoning_content")
    return f"<think>\n{reasoning}\n</think>\n\n{value}" if reasoning else value


def turns(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, str]]]:
    """(system, conversations) from chat messages."""
    system: list[str] = []
    out: list[dict[str, str]] = []
    pending_results: list[str] = []

    def add(kind: str, value: str) -> None:
        if out and (out[-1]["from"] in _ODD) == (kind in _ODD):
            if kind in _EVEN:
                raise chat.Unexpressible("two model messages in a row")
            out[-1]["value"] = f"{out[-1]['value']}\n\n{value}"  # the reading side merges
        else:
            out.append({"from": kind, "value": value})

    def flush() -> None:
        if pending_results:
            add(
                "observation",
                pending_results[0] if len(pending_results) == 1 else json.dumps(pending_results),
            )
            pending_results.clear()

    for message in messages:
        role = message["role"]
        if role == "tool":
            pending_results.append(message["content"])
            continue
        flush()
        if role in chat.SYSTEM_ROLES:
            if out:
                raise chat.Unexpressible("a system message inside the conversation")
            system.append(message["content"])
        elif role == "user":
            add("human", message["content"])
        elif message.get("tool_calls"):
            calls = [
                {"name": c["function"]["name"], "arguments": c["function"]["arguments"]}
                for c in message["tool_calls"]
            ]
            value = json.dumps(calls[0] if len(calls) == 1 else calls, ensure_ascii=False)
            add("function_call", _think(message, value))
        else:
            add("gpt", _think(message, message.get("content") or ""))
    flush()
    while out and out[-1]["from"] not in _EVEN:  # a row ends with the model's message
        out.pop()
    if not out or out[0]["from"] != "human":
        raise chat.Unexpressible("a ShareGPT conversation starts with the user")
    return "\n\n".join(system), out


def flat_tools(trajectory: Trajectory) -> str:
    return json.dumps([t["function"] for t in chat.chat_tools(trajectory)], ensure_ascii=False)


def record(trajectory: Trajectory, example: shaping.Conversation, style: chat.ChatStyle) -> dict[str, Any]:
    system, conversations = turns(chat.chat_messages(example.messages, style))
    return {"conversations": conversations, "system": system, "tools": flat_tools(trajectory)}


def records(items: Sequence[Trajectory], options: ExportOptions) -> Iterator[dict[str, Any]]:
    style = chat.style(options, arguments="object", reasoning=False, media=False, null_content=False)
    yield from shaping.each_example(items, options, lambda t, e: record(t, e, style))


FORMAT = Format(
    name="sharegpt",
    description="ShareGPT rows for LLaMA-Factory: conversations (from/value), system, tools",
    levels=("trajectory", "turn"),
    records=records,
)
