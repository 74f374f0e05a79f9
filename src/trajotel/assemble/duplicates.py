"""Several LLM spans for one model call -> one record.

Stacked instrumentations (trajotel with OpenLLMetry, the official openai-v2, OpenInference, the
anthropic SDK's built-in span, a framework's own model span...) each record the same call. Two
inference spans are the same call when

- one is an ancestor of the other, through plain spans only (an HTTP client span, say): a tool
  or agent span in between means a new call made *inside* the outer one, not a copy of it;
- or they carry the same ``gen_ai.response.id`` and overlap in time (siblings, possibly in two
  traces). The overlap guard matters: some OpenAI-compatible servers mint short, colliding ids.

The richest span of a group is kept (input and output content first, then the number of
attributes, then the span id so the choice never depends on arrival order), and its gaps (usage,
response id and model, finish reasons, content, attributes) are filled from the others.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from trajotel import semconv as sc

SpanRow = Mapping[str, Any]
_SpanKey = tuple[str, str]  # (trace id, span id)

# Columns a duplicate may supply when the kept span lacks them. Errors and status are not
# borrowed: an inner attempt that failed before a retry succeeded does not make the call fail.
_FILLABLE = (
    "InputMessageHashes",
    "OutputMessageHashes",
    "SystemInstructionsHash",
    "ToolDefinitionsHash",
    "InputTokens",
    "OutputTokens",
    "ResponseId",
    "ResponseModel",
    "RequestModel",
    "Provider",
    "FinishReasons",
    "ConversationId",
    "AgentName",
)


def _key(span: SpanRow) -> _SpanKey:
    return span["TraceId"], span["SpanId"]


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == ()


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[_SpanKey, _SpanKey] = {}

    def find(self, key: _SpanKey) -> _SpanKey:
        root = self.parent.setdefault(key, key)
        while root != self.parent[root]:
            root = self.parent[root]
        while key != root:  # path compression
            self.parent[key], key = root, self.parent[key]
        return root

    def union(self, a: _SpanKey, b: _SpanKey) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _outermost_inference_ancestor(span: SpanRow, by_key: Mapping[_SpanKey, SpanRow]) -> SpanRow | None:
    """The highest inference span above ``span`` reachable through plain spans only."""
    found = None
    seen = {_key(span)}
    parent = by_key.get((span["TraceId"], span["ParentSpanId"]))
    while parent is not None and _key(parent) not in seen:
        seen.add(_key(parent))
        operation = parent["Operation"]
        if operation in sc.INFERENCE_OPERATIONS:
            found = parent
        elif operation:
            break  # a tool, agent or other GenAI step: what is below it is a call of its own
        parent = by_key.get((parent["TraceId"], parent["ParentSpanId"]))
    return found


def _richness(span: SpanRow) -> tuple[Any, ...]:
    has_in = bool(span["InputMessageHashes"])
    has_out = bool(span["OutputMessageHashes"])
    return (not (has_in and has_out), -(has_in + has_out), -len(span["SpanAttributes"]), span["SpanId"])


def _merge(group: list[SpanRow]) -> SpanRow:
    ranked = sorted(group, key=_richness)
    kept = dict(ranked[0])
    for column in _FILLABLE:
        if _empty(kept[column]):
            kept[column] = next((s[column] for s in ranked[1:] if not _empty(s[column])), kept[column])
    attributes: dict[str, str] = {}
    for span in reversed(ranked):  # the kept span's values win
        attributes.update(span["SpanAttributes"])
    kept["SpanAttributes"] = attributes
    return kept


def merge_duplicate_calls(spans: Iterable[SpanRow]) -> list[SpanRow]:
    """The inference spans among ``spans`` (deduplicated by span id), one row per model call,
    in start order."""
    rows = list(spans)
    by_key = {_key(s): s for s in rows}
    inference = [s for s in rows if s["Operation"] in sc.INFERENCE_OPERATIONS]
    groups = _UnionFind()
    for span in inference:
        groups.find(_key(span))
        ancestor = _outermost_inference_ancestor(span, by_key)
        if ancestor is not None:
            groups.union(_key(span), _key(ancestor))
    by_response: dict[str, list[SpanRow]] = defaultdict(list)
    for span in inference:
        if span["ResponseId"]:
            by_response[span["ResponseId"]].append(span)
    for same_id in by_response.values():
        for i, a in enumerate(same_id):
            for b in same_id[i + 1 :]:
                if a["StartNs"] <= b["EndNs"] and b["StartNs"] <= a["EndNs"]:
                    groups.union(_key(a), _key(b))
    members: dict[_SpanKey, list[SpanRow]] = defaultdict(list)
    for span in inference:
        members[groups.find(_key(span))].append(span)
    merged = [_merge(group) for group in members.values()]
    merged.sort(key=lambda s: (s["StartNs"], s["EndNs"], s["TraceId"], s["SpanId"]))
    return merged
