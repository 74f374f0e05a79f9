"""The canonical records normalize produces: rows for the raw ``spans`` and ``logs`` tables and
the content-addressed message bodies they reference. Keys are the store's column names."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

# Kinds of content stored in message_contents.
KIND_MESSAGE = "message"
KIND_SYSTEM_INSTRUCTIONS = "system_instructions"
KIND_TOOL_DEFINITIONS = "tool_definitions"


def content_hash(canonical_json: str) -> str:
    """128-bit content address of a canonical JSON text."""
    return hashlib.blake2b(canonical_json.encode(), digest_size=16).hexdigest()


@dataclass
class NormalizedBatch:
    spans: list[dict[str, Any]] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)
    # (tenant, hash) -> (kind, canonical JSON); written once per hash into message_contents.
    contents: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)

    def extend(self, other: NormalizedBatch) -> None:
        self.spans.extend(other.spans)
        self.logs.extend(other.logs)
        self.contents.update(other.contents)

    def trace_ids(self) -> set[tuple[str, str]]:
        """(tenant, trace id) pairs touched by this batch: its spans' and its content events'."""
        return {(row["Tenant"], row["TraceId"]) for row in self.spans} | self.content_event_trace_ids()

    def content_event_trace_ids(self) -> set[tuple[str, str]]:
        """Traces of the GenAI content events (log records whose messages were extracted)."""
        return {(row["Tenant"], row["TraceId"]) for row in self.logs if row["TraceId"] and has_content(row)}


def has_content(row: dict[str, Any]) -> bool:
    return bool(
        row["InputMessageHashes"]
        or row["OutputMessageHashes"]
        or row["SystemInstructionsHash"]
        or row["ToolDefinitionsHash"]
    )
