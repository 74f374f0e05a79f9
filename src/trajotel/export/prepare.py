"""What the driver does to a trajectory before a format sees it: truncation and dropping reasoning
(the rules are in ``trajotel.export.format``'s docstring).

Token counts are estimated as characters / 4 of the messages' text, tool arguments and tool
results plus the system instructions (tool definitions are not counted). The trajectory read from
the store is never changed: cut messages are new objects, one per original message, so turns that
share a message still share its cut copy.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

from trajotel.assemble.model import Message, Part, Trajectory, Turn
from trajotel.export.format import ExportOptions

TRUNCATED_KEY = "trajotel.truncated"  # metadata key saying what was cut
CHARS_PER_TOKEN = 4
# A part is never cut below this many characters; when the budget needs less, turns are dropped
# from the end instead.
MIN_PART_CHARS = 64


def _cuttable(part: Part) -> str | None:
    """The text of a part that may be cut: text and reasoning content, tool results."""
    if part.type in ("text", "reasoning") and isinstance(part.content, str):
        return part.content
    if part.type == "tool_call_response" and part.response is not None:
        return part.response if isinstance(part.response, str) else _json(part.response)
    return None


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _fixed_size(part: Part) -> int:
    """Characters of a part that are never cut (tool-call arguments, names)."""
    size = len(part.name or "")
    if part.arguments is not None:
        size += len(part.arguments) if isinstance(part.arguments, str) else len(_json(part.arguments))
    return size


class _Sizes:
    """(fixed characters, cuttable lengths) per message object, computed once."""

    def __init__(self) -> None:
        self._cache: dict[int, tuple[Message, int, list[int]]] = {}

    def __call__(self, message: Message) -> tuple[int, list[int]]:
        found = self._cache.get(id(message))
        if found is None:
            fixed, cut = 0, []
            for part in message.parts:
                fixed += _fixed_size(part)
                text = _cuttable(part)
                if text is not None:
                    cut.append(len(text))
            found = self._cache[id(message)] = (message, fixed, cut)
        return found[1], found[2]


def _fits(fixed: int, lengths: list[int], cap: int, marker: int, budget: int) -> bool:
    return fixed + sum(min(n, cap) + (marker if n > cap else 0) for n in lengths) <= budget


def _cap(fixed: int, lengths: list[int], marker: int, budget: int) -> int | None:
    """The largest per-part length that makes the context fit (None: no cut needed; 0: even
    MIN_PART_CHARS does not fit)."""
    if fixed + sum(lengths) <= budget:
        return None
    if not _fits(fixed, lengths, MIN_PART_CHARS, marker, budget):
        return 0
    low, high = MIN_PART_CHARS, max(lengths)
    while low < high:  # the largest cap that fits
        middle = (low + high + 1) // 2
        if _fits(fixed, lengths, middle, marker, budget):
            low = middle
        else:
            high = middle - 1
    return low


class _Messages:
    """One transformed copy per original message (identity across turns is kept)."""

    def __init__(self, change: Callable[[Message], Message]) -> None:
        self._change = change
        self._cache: dict[int, tuple[Message, Message]] = {}

    def __call__(self, message: Message) -> Message:
        found = self._cache.get(id(message))
        if found is None:
            found = self._cache[id(message)] = (message, self._change(message))
        return found[1]


def _drop_reasoning(message: Message) -> Message:
    if not any(p.type == "reasoning" for p in message.parts):
        return message
    return dataclasses.replace(message, parts=[p for p in message.parts if p.type != "reasoning"])


def _cut(message: Message, cap: int, marker: str) -> Message:
    parts = []
    changed = False
    for part in message.parts:
        text = _cuttable(part)
        if text is not None and len(text) > cap:
            cut = f"{text[:cap]} {marker}"
            field = "response" if part.type == "tool_call_response" else "content"
            part = dataclasses.replace(part, **{field: cut})
            changed = True
        parts.append(part)
    return dataclasses.replace(message, parts=parts) if changed else message


def _map_turns(turns: list[Turn], change: _Messages) -> list[Turn]:
    """The turns with their messages changed; the same list when no message changed."""
    out, changed = [], False
    for turn in turns:
        inputs = [change(m) for m in turn.input_messages]
        outputs = [change(m) for m in turn.output_messages]
        if any(a is not b for a, b in zip(inputs, turn.input_messages, strict=True)) or any(
            a is not b for a, b in zip(outputs, turn.output_messages, strict=True)
        ):
            changed = True
            turn = dataclasses.replace(turn, input_messages=inputs, output_messages=outputs)
        out.append(turn)
    return out if changed else turns


def prepare(trajectory: Trajectory, options: ExportOptions) -> tuple[Trajectory, bool]:
    """The trajectory as the format should see it, and whether it was truncated."""
    turns = list(trajectory.turns)
    notes: list[str] = []
    if options.reasoning == "drop":
        turns = _map_turns(turns, _Messages(_drop_reasoning))
    if options.max_turns is not None and len(turns) > options.max_turns:
        notes.append(f"turns {len(turns)} -> {options.max_turns} (max_turns)")
        turns = turns[: options.max_turns]
    if options.max_tokens is not None and turns:
        turns = _fit_tokens(trajectory, turns, options, notes)
    if (
        not notes
        and len(turns) == len(trajectory.turns)
        and all(a is b for a, b in zip(turns, trajectory.turns, strict=True))
    ):
        return trajectory, False
    metadata = dict(trajectory.metadata)
    if notes:
        metadata[TRUNCATED_KEY] = "; ".join(notes)
    return dataclasses.replace(trajectory, turns=turns, metadata=metadata), bool(notes)


def _fit_tokens(
    trajectory: Trajectory, turns: list[Turn], options: ExportOptions, notes: list[str]
) -> list[Turn]:
    assert options.max_tokens is not None
    budget = options.max_tokens * CHARS_PER_TOKEN
    marker = len(options.truncation_marker) + 1
    sizes = _Sizes()
    system = sum(len(p.content or "") for p in trajectory.system_instructions)

    def context(turn: Turn) -> tuple[int, list[int]]:
        fixed, lengths = system, []
        for m in (*turn.input_messages, *turn.output_messages):
            f, cut = sizes(m)
            fixed += f
            lengths.extend(cut)
        return fixed, lengths

    first = len(turns)
    while True:
        # The largest context (usually the last call's) decides the cut for all turns.
        fixed, lengths = max((context(t) for t in turns), key=lambda c: c[0] + sum(c[1]))
        cap = _cap(fixed, lengths, marker, budget)
        if cap != 0 or len(turns) == 1:
            break
        turns = turns[:-1]
    if len(turns) < first:
        notes.append(f"turns {first} -> {len(turns)} (max_tokens {options.max_tokens})")
    if cap is None:
        return turns
    cap = cap or MIN_PART_CHARS  # one turn left that still does not fit: cut as far as allowed
    notes.append(f"parts over {cap} characters cut (max_tokens {options.max_tokens})")
    return _map_turns(turns, _Messages(lambda m: _cut(m, cap, options.truncation_marker)))
