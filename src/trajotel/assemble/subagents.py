"""Sub-agents: an ``invoke_agent`` span inside another agent's span is a child trajectory.

The child holds the sub-agent span and everything under it (down to the next nested agent, which
is its own child); the parent keeps the rest, so a model call belongs to exactly one trajectory:
the innermost agent that made it. A child's id is ``{top-level trajectory id}/{sub-agent span
id}`` at any depth (stable whatever order spans arrive in); its ``parent_trajectory_id`` is the
id of the agent it runs in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from trajotel import semconv as sc

SpanRow = Mapping[str, Any]


def top_level_id(trajectory_id: str) -> str:
    """The top-level trajectory a (sub-agent's) trajectory id belongs to; itself at the top."""
    return trajectory_id.split("/", 1)[0]


def with_top_level_ids(trajectory_ids: Iterable[str]) -> list[str]:
    """The ids and the top-level ids they belong to, sorted: what a lookup of people's edits
    needs, since deleting an agent hides its sub-agents too."""
    ids = set(trajectory_ids)
    return sorted(ids | {top_level_id(i) for i in ids})


def split_subagents(
    spans: Sequence[SpanRow], trajectory_id: str
) -> list[tuple[str, str | None, list[SpanRow]]]:
    """``spans`` of one trajectory -> (id, parent id, spans) for it and each sub-agent in it,
    parents before their children."""
    by_id = {(s["TraceId"], s["SpanId"]): s for s in spans}
    owner: dict[tuple[str, str], str] = {}  # span -> the trajectory id it belongs to
    agent_ids: dict[tuple[str, str], str] = {}  # sub-agent span -> its child trajectory id
    parents: dict[str, str] = {}

    def owner_of(key: tuple[str, str]) -> str:
        """The trajectory of a span: its innermost enclosing nested agent's, else the parent's."""
        chain = []
        current: tuple[str, str] | None = key
        found = trajectory_id
        while current is not None and current in by_id:
            if current in owner:
                found = owner[current]
                break
            chain.append(current)
            span = by_id[current]
            current = (span["TraceId"], span["ParentSpanId"]) if span["ParentSpanId"] else None
        # Walk back down from the outermost: an agent span with an agent above it starts a child.
        for link in reversed(chain):
            span = by_id[link]
            if span["Operation"] == sc.OP_INVOKE_AGENT and _has_agent_above(span, by_id):
                child = f"{trajectory_id}/{span['SpanId']}"
                parents[child] = found
                agent_ids[link] = child
                found = child
            owner[link] = found
        return found

    groups: dict[str, list[SpanRow]] = {trajectory_id: []}
    for span in spans:
        groups.setdefault(owner_of((span["TraceId"], span["SpanId"])), []).append(span)
    ordered = sorted(groups, key=lambda tid: (tid.count("/"), tid))
    return [(tid, parents.get(tid), groups[tid]) for tid in ordered]


def _has_agent_above(span: SpanRow, by_id: Mapping[tuple[str, str], SpanRow]) -> bool:
    parent_id = span["ParentSpanId"]
    while parent_id:
        parent = by_id.get((span["TraceId"], parent_id))
        if parent is None:
            return False
        if parent["Operation"] == sc.OP_INVOKE_AGENT:
            return True
        parent_id = parent["ParentSpanId"]
    return False
