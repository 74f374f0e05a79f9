"""Reading flattened encodings: lists spelled out as ``prefix.N.field`` attribute keys.

OpenLLMetry (``gen_ai.prompt.0.role``) and OpenInference (``llm.input_messages.0.message.role``)
flatten lists of messages, tool calls and tools into one attribute per leaf. These helpers give
the lists back, in numeric index order (``10`` after ``9``, not after ``1``), together with the
keys they read so the span does not keep them twice.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any


class FlatReader:
    """The attributes of one span, and the keys read from them so far."""

    def __init__(self, attributes: dict[str, str]) -> None:
        self.attributes = attributes
        self.consumed: set[str] = set()

    def items(self, prefix: str) -> list[dict[str, str]]:
        """The list under ``prefix``: for each index, ``{rest of key: value}``; gaps are skipped."""
        return [item for _, item in sorted(_group(self.attributes, prefix, self.consumed).items())]

    def take(self, key: str) -> str | None:
        value = self.attributes.get(key)
        if value is not None:
            self.consumed.add(key)
        return value


def _group(attributes: dict[str, str], prefix: str, consumed: set[str]) -> dict[int, dict[str, str]]:
    start = prefix + "."
    grouped: dict[int, dict[str, str]] = defaultdict(dict)
    for key, value in attributes.items():
        if not key.startswith(start):
            continue
        index, _, rest = key[len(start) :].partition(".")
        if not index.isdigit() or not rest:
            continue
        grouped[int(index)][rest] = value
        consumed.add(key)
    return grouped


def sub_items(item: dict[str, str], prefix: str) -> list[dict[str, str]]:
    """A nested list inside one item (e.g. a message's ``tool_calls.M.*``), in index order."""
    return [sub for _, sub in sorted(_group(item, prefix, set()).items())]


def json_object(text: str | None, what: str) -> dict[str, Any]:
    """A JSON object attribute; ValueError naming ``what`` when it is not one."""
    try:
        value = json.loads(text or "")
    except ValueError as exc:
        raise ValueError(f"{what} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a JSON object, got {type(value).__name__}")
    return value
