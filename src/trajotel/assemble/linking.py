"""Which traces make one trajectory.

Boundaries, in order (DESIGN.md):

1. A trace with an ``invoke_agent`` span (trajotel's ``trajectory()`` root, a framework's agent
   span) is one trajectory by itself, and so is a trace whose root span has not arrived yet (it
   may still turn out to be an agent run).
2. Traces carrying the same ``gen_ai.conversation.id`` (same tenant) are one trajectory.
3. Message-history threading, for agents that emit only flat model-call traces: a trace whose
   first model call's input starts with the full input + output of a model call in another such
   trace (same tenant and service, same system instructions) continues that trajectory. Traces
   whose model calls share a ``gen_ai.response.id`` while overlapping in time (one call recorded
   by two instrumentations that landed in two traces) are joined as well.

A changed system prompt (``gen_ai.system_instructions`` or a system message in the history)
starts a new trajectory, and so does a compacted or otherwise rewritten history: the next call
no longer starts with the previous call's messages. Messages are compared by content with the
output-only details removed (``finish_reason``, reasoning parts, empty text parts), since
agents echo a model's answer back without them. Two agents whose histories are identical so far
(same prompt, same answers) cannot be told apart; they are grouped once they share a call.

Storage (see ``store.trajectories``): each threadable trace writes a few content-hash keys to the
``trajectory_links`` table, ordered by (tenant, key): one *context* key per model call (rolling
hash of system instructions + input + output), one *prefix* key per leading run of its first
call's input, and its conversation / response id keys. A trace finds its predecessors by looking
its prefix keys up among context keys, and its successors (they may be stored first) by looking
its context keys up among prefix keys: index lookups, never a scan. The prefix keys of a trace
are as many as the input message references its spans already hold. Matches are candidates
only: the grouping below is recomputed from the candidates' spans, so a stale key can never
join two traces. ``trace_trajectories`` remembers each trace's current trajectory, so a merge
re-assembles the whole of both sides and retires the absorbed trajectory id with a tombstone.

The trajectory id is the id of its earliest trace (by first span start, then id): stable in
order, and the same whatever order the traces arrive in.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from trajotel import semconv as sc
from trajotel.assemble.duplicates import merge_duplicate_calls
from trajotel.normalize.values import dumps

TraceKey = tuple[str, str]  # (tenant, trace id)
SpanRow = Mapping[str, Any]

# Kinds of rows in the trajectory_links table.
KIND_CONTEXT = "context"
KIND_PREFIX = "prefix"
KIND_CONVERSATION = "conversation"
KIND_RESPONSE = "response"

MODE_STANDALONE = "standalone"
MODE_CONVERSATION = "conversation"
MODE_HISTORY = "history"


def _digest(*pieces: str) -> str:
    return hashlib.blake2b("\x00".join(pieces).encode(), digest_size=16).hexdigest()


def message_identity(canonical_json: str) -> str:
    """What makes a message "the same" when an agent sends it back in its next call."""
    message = json.loads(canonical_json)
    if not isinstance(message, dict):
        return _digest(canonical_json)
    parts = [
        p
        for p in message.get("parts") or []
        if not (
            isinstance(p, dict)
            and (
                p.get("type") == sc.PART_REASONING or (p.get("type") == sc.PART_TEXT and not p.get("content"))
            )
        )
    ]
    kept = {k: v for k, v in message.items() if k not in ("finish_reason", "parts")}
    return _digest(dumps({**kept, "parts": parts}))


class MessageIdentities:
    """Content hash -> message identity, computed once per hash."""

    def __init__(self, contents: Mapping[str, str]) -> None:
        self.contents = contents
        self._known: dict[str, str] = {}

    def __call__(self, content_hash: str) -> str:
        found = self._known.get(content_hash)
        if found is None:
            text = self.contents.get(content_hash)
            found = content_hash if text is None else message_identity(text)
            self._known[content_hash] = found
        return found


@dataclass(frozen=True)
class TraceLinks:
    """What one trace contributes to grouping."""

    key: TraceKey
    start_ns: int
    mode: str = MODE_STANDALONE
    prefixes: tuple[str, ...] = ()  # first call: keys of its input's leading runs (2+ messages)
    contexts: tuple[str, ...] = ()  # each call: key of its input + output
    conversation: str = ""
    responses: tuple[tuple[str, int, int], ...] = ()  # (key, start, end) of each call

    def index_rows(self) -> list[tuple[str, str]]:
        """(kind, key) rows this trace writes to the links table."""
        rows = [(KIND_PREFIX, k) for k in self.prefixes] + [(KIND_CONTEXT, k) for k in self.contexts]
        if self.conversation:
            rows.append((KIND_CONVERSATION, self.conversation))
        rows.extend((KIND_RESPONSE, k) for k, _, _ in self.responses)
        return rows

    def probes(self) -> list[tuple[str, str]]:
        """(kind, key) rows of *other* traces that would link to this one."""
        rows = [(KIND_CONTEXT, k) for k in self.prefixes] + [(KIND_PREFIX, k) for k in self.contexts]
        if self.conversation:
            rows.append((KIND_CONVERSATION, self.conversation))
        rows.extend((KIND_RESPONSE, k) for k, _, _ in self.responses)
        return rows


def _rolling(seed: str, identities: Iterable[str]) -> list[str]:
    """The key of every leading run of ``identities`` (fixed-length hex, so concatenation is
    unambiguous)."""
    h = hashlib.blake2b(seed.encode(), digest_size=16)
    out = []
    for identity in identities:
        h.update(identity.encode())
        out.append(h.copy().hexdigest())
    return out


def link_trace(key: TraceKey, spans: Iterable[SpanRow], identities: MessageIdentities) -> TraceLinks:
    """The grouping keys of one trace, from its (deduplicated) spans."""
    rows = list(spans)
    tenant = key[0]
    start = min((s["StartNs"] for s in rows), default=0)
    standalone = TraceLinks(key=key, start_ns=start)
    if any(s["Operation"] == sc.OP_INVOKE_AGENT for s in rows) or not any(
        not s["ParentSpanId"] for s in rows
    ):
        return standalone
    conversation = next((s["ConversationId"] for s in rows if s["Operation"] and s["ConversationId"]), "")
    if conversation:
        return TraceLinks(
            key=key, start_ns=start, mode=MODE_CONVERSATION, conversation=_digest(tenant, conversation)
        )
    calls = merge_duplicate_calls(rows)
    if not calls:
        return standalone
    service = next((s["ServiceName"] for s in rows if s["ServiceName"]), "")

    def seed(call: SpanRow) -> str:
        return _digest(tenant, service, call["SystemInstructionsHash"])

    first = calls[0]
    prefixes = _rolling(seed(first), map(identities, first["InputMessageHashes"]))[1:]
    contexts = [
        _rolling(seed(c), map(identities, (*c["InputMessageHashes"], *c["OutputMessageHashes"])))[-1]
        for c in calls
        if c["InputMessageHashes"] and c["OutputMessageHashes"]
    ]
    responses = [
        (_digest(tenant, "response", c["ResponseId"]), c["StartNs"], c["EndNs"])
        for c in calls
        if c["ResponseId"]
    ]
    return TraceLinks(
        key=key,
        start_ns=start,
        mode=MODE_HISTORY,
        prefixes=tuple(prefixes),
        contexts=tuple(sorted(set(contexts))),
        responses=tuple(sorted(set(responses))),
    )


def group_traces(links: Iterable[TraceLinks]) -> dict[TraceKey, str]:
    """Trace -> trajectory id, for a set of traces (a pure function of the set)."""
    by_key = {link.key: link for link in links}
    parent = {k: k for k in by_key}

    def find(k: TraceKey) -> TraceKey:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    def union(a: TraceKey, b: TraceKey) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    contexts: dict[str, list[TraceKey]] = defaultdict(list)
    conversations: dict[str, list[TraceKey]] = defaultdict(list)
    responses: dict[str, list[tuple[TraceKey, int, int]]] = defaultdict(list)
    for link in by_key.values():
        for k in link.contexts:
            contexts[k].append(link.key)
        if link.conversation:
            conversations[link.conversation].append(link.key)
        for k, start, end in link.responses:
            responses[k].append((link.key, start, end))
    for link in by_key.values():
        for k in link.prefixes:
            for other in contexts.get(k, ()):
                if other != link.key:
                    union(link.key, other)
    for members in conversations.values():
        for other in members[1:]:
            union(members[0], other)
    for calls in responses.values():
        for i, (a, a_start, a_end) in enumerate(calls):
            for b, b_start, b_end in calls[i + 1 :]:
                if a != b and a_start <= b_end and b_start <= a_end:
                    union(a, b)

    components: dict[TraceKey, list[TraceLinks]] = defaultdict(list)
    for k, link in by_key.items():
        components[find(k)].append(link)
    out: dict[TraceKey, str] = {}
    for members in components.values():
        first = min(members, key=lambda m: (m.start_ns, m.key[1]))
        for member in members:
            out[member.key] = first.key[1]
    return out
