"""The trajectory model: plain dataclasses the assembler builds and the exports read.

Mirrors ``proto/trajotel/v1/trajectory.proto`` field by field (tests/test_proto_generated.py
checks it). Three encodings, all lossless:

* parts and messages in the OpenTelemetry GenAI semantic-conventions JSON shape
  (``Part.to_semconv`` / ``Message.to_semconv``);
* the canonical dict / JSON form (``Trajectory.to_dict`` / ``to_json``);
* the protobuf message (``Trajectory.to_proto``, implemented in ``model_proto``).

The last two store a turn's input by reference: the first ``inherited_input_count`` messages are
the previous turn's input + output, only ``new_input_messages`` are written out, so an agent
run's quadratically growing history is stored once. Decoding rebuilds the full
``Turn.input_messages``; rebuilt turns share those Message objects with the previous turn.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from typing import TYPE_CHECKING, Any, Self

from trajotel.errors import InvalidInputError

if TYPE_CHECKING:
    from trajotel.proto.trajotel.v1 import trajectory_pb2

# --- message parts -----------------------------------------------------------------------------

_PART_STR_KEYS = ("content", "id", "name", "mime_type", "modality", "uri", "file_id")
_PART_JSON_KEYS = ("arguments", "response")
_PART_ORDER = ("content", "id", "name", "arguments", "response", "mime_type", "modality", "uri", "file_id")


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_set_str(v: Any) -> bool:
    return isinstance(v, str) and v != ""


def _split(d: Mapping[str, Any], accept: Mapping[str, Callable[[Any], bool]]) -> tuple[dict, dict]:
    """Split a semconv object into typed fields and ``extra``. A known key whose value has the
    wrong type (or is null) goes to ``extra`` too, so converting back restores it unchanged."""
    known: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in d.items():
        check = accept.get(key)
        (known if check is not None and check(value) else extra)[key] = value
    return known, extra


def _merge_extra(out: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    # Typed fields win, except where they hold only the placeholder for "absent or malformed".
    for key, value in extra.items():
        if out.get(key) in (None, "", []):
            out[key] = value
    return out


_PART_ACCEPT: dict[str, Callable[[Any], bool]] = {
    "type": _is_set_str,
    **dict.fromkeys(_PART_STR_KEYS, _is_str),
    **dict.fromkeys(_PART_JSON_KEYS, lambda v: v is not None),
}


@dataclass
class Part:
    """One part of a message (semconv part types: text, reasoning, tool_call, ...)."""

    type: str
    content: str | None = None
    id: str | None = None
    name: str | None = None
    arguments: Any = None  # JSON value; the raw string when the model's arguments were not JSON
    response: Any = None
    mime_type: str | None = None
    modality: str | None = None
    uri: str | None = None
    file_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_semconv(cls, d: Mapping[str, Any]) -> Self:
        known, extra = _split(d, _PART_ACCEPT)
        return cls(type=known.pop("type", ""), **known, extra=extra)

    def to_semconv(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type} if self.type else {}
        for key in _PART_ORDER:
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return _merge_extra(out, self.extra)

    from_dict = from_semconv
    to_dict = to_semconv


def _is_part_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(p, Mapping) for p in v)


_MESSAGE_ACCEPT: dict[str, Callable[[Any], bool]] = {
    "role": _is_set_str,
    "parts": _is_part_list,
    "name": _is_str,
    "finish_reason": _is_str,
}


@dataclass
class Message:
    """A chat message: ``{"role", "parts", "name"?, "finish_reason"?}`` plus any other keys."""

    role: str
    parts: list[Part] = field(default_factory=list)
    name: str | None = None
    finish_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_semconv(cls, d: Mapping[str, Any]) -> Self:
        known, extra = _split(d, _MESSAGE_ACCEPT)
        parts = [Part.from_semconv(p) for p in known.pop("parts", [])]
        return cls(role=known.pop("role", ""), parts=parts, **known, extra=extra)

    def to_semconv(self) -> dict[str, Any]:
        # "parts" is required by the conventions, so it is always written (possibly empty).
        out: dict[str, Any] = {"role": self.role} if self.role else {}
        out["parts"] = [p.to_semconv() for p in self.parts]
        for key in ("name", "finish_reason"):
            if (value := getattr(self, key)) is not None:
                out[key] = value
        return _merge_extra(out, self.extra)

    from_dict = from_semconv
    to_dict = to_semconv


# --- small records ----------------------------------------------------------------------------


def _add_optional(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else a + b


@dataclass
class Usage:
    """Token counts; None when the provider did not report them (not the same as 0)."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_write_input_tokens: int | None = None
    reasoning_output_tokens: int | None = None

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            **{f.name: _add_optional(getattr(self, f.name), getattr(other, f.name)) for f in fields(self)}
        )

    def __radd__(self, other: Any) -> Usage:
        # Lets sum(usages) start from its default 0.
        return Usage() + self if other == 0 else NotImplemented

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Self:
        return _from_dict(cls, d)


@dataclass
class ToolCall:
    """A tool call requested by a turn, joined with its execution and result."""

    id: str
    name: str
    arguments: Any = None
    result: Any = None
    status: str = "pending"  # pending | ok | error
    error_type: str | None = None
    span_id: str | None = None  # hex id of the execute_tool span
    start_time_unix_nano: int | None = None
    end_time_unix_nano: int | None = None
    result_source: str | None = None  # execute_tool_span | next_input

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Self:
        return _from_dict(cls, d)


@dataclass
class Outcome:
    label: str = "unknown"  # success | partial | failure | unknown
    confidence: float = 0.0
    reasons: list[str] = field(default_factory=list)
    source: str = "heuristic"

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Self:
        return _from_dict(cls, d)


@dataclass
class Feedback:
    id: str
    trajectory_id: str
    turn_index: int | None = None  # None: about the whole trajectory
    source: str = "api"  # api | human | heuristic | llm_judge | rule
    value: float | None = None
    label: str | None = None
    comment: str | None = None
    author: str | None = None
    created_at_unix_nano: int = 0

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Self:
        return _from_dict(cls, d)


# --- turns and trajectories -------------------------------------------------------------------


@dataclass
class Turn:
    """One model call and what followed it."""

    index: int
    trace_id: str
    span_id: str
    provider: str | None = None
    request_model: str | None = None
    response_model: str | None = None
    response_id: str | None = None
    start_time_unix_nano: int = 0
    end_time_unix_nano: int = 0
    input_messages: list[Message] = field(default_factory=list)  # the FULL input of the call
    output_messages: list[Message] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reasons: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    error_type: str | None = None
    status_message: str | None = None
    reward: float | None = None
    output_token_ids: list[int] = field(default_factory=list)
    output_logprobs: list[float] = field(default_factory=list)
    prompt_token_ids: list[int] = field(default_factory=list)

    @property
    def latency_ms(self) -> float:
        return (self.end_time_unix_nano - self.start_time_unix_nano) / 1e6

    @property
    def finish_reason(self) -> str | None:
        return self.finish_reasons[0] if self.finish_reasons else None

    def inherited_input_count(self, previous: Turn | None) -> int:
        """How many leading input messages equal ``previous``'s input + output."""
        if previous is None:
            return 0
        context = previous.input_messages + previous.output_messages
        n = 0
        for mine, theirs in zip(self.input_messages, context, strict=False):
            if not _strict_eq(mine, theirs):
                break
            n += 1
        return n

    def to_dict(self, previous: Turn | None = None) -> dict[str, Any]:
        """Canonical form, input by reference to ``previous`` (the turn before it)."""
        n = self.inherited_input_count(previous)
        out = _to_dict(self, skip="input_messages")
        out["inherited_input_count"] = n
        out["new_input_messages"] = [m.to_semconv() for m in self.input_messages[n:]]
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], previous: Turn | None = None) -> Self:
        turn = _from_dict(cls, d)
        if "input_messages" not in d:  # the full form is accepted too
            new = [Message.from_semconv(m) for m in d.get("new_input_messages", [])]
            turn.input_messages = _inherited(previous, d.get("inherited_input_count", 0), turn.index) + new
        return turn


def _inherited(previous: Turn | None, n: int, index: int) -> list[Message]:
    context = [] if previous is None else previous.input_messages + previous.output_messages
    if not 0 <= n <= len(context):
        raise InvalidInputError(
            f"turn {index}: inherited_input_count {n} but the previous turn has {len(context)} messages",
            hint="turns must be in order and complete; re-export the trajectory",
        )
    return context[:n]


@dataclass
class Trajectory:
    """One agent run."""

    id: str
    version: int = 1
    tenant: str = "default"
    service_name: str | None = None
    agent_name: str | None = None
    agent_id: str | None = None
    task: str | None = None
    framework: str | None = None
    trace_ids: list[str] = field(default_factory=list)
    root_span_id: str | None = None
    parent_trajectory_id: str | None = None
    conversation_id: str | None = None
    start_time_unix_nano: int = 0
    end_time_unix_nano: int = 0
    status: str = "running"  # running | complete | abandoned | error
    outcome: Outcome = field(default_factory=Outcome)
    reward: float | None = None
    feedback: list[Feedback] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    models: list[str] = field(default_factory=list)
    tools_used: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    system_instructions: list[Part] = field(default_factory=list)
    tool_definitions: list[dict[str, Any]] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)
    span_count: int = 0
    assembled_at_unix_nano: int = 0

    @property
    def duration_ms(self) -> float:
        return (self.end_time_unix_nano - self.start_time_unix_nano) / 1e6

    def to_dict(self) -> dict[str, Any]:
        """Canonical JSON-safe form: None fields omitted, turn inputs by reference."""
        out = _to_dict(self, skip="turns")
        out["turns"] = [t.to_dict(p) for t, p in zip(self.turns, [None, *self.turns], strict=False)]
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Self:
        traj = _from_dict(cls, {k: v for k, v in d.items() if k != "turns"})
        previous = None
        for td in d.get("turns", []):
            previous = Turn.from_dict(td, previous)
            traj.turns.append(previous)
        return traj

    def to_json(self) -> str:
        """Byte-stable JSON: sorted keys, no whitespace, UTF-8 kept as is."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, s: str | bytes) -> Self:
        return cls.from_dict(json.loads(s))

    def to_proto(self) -> trajectory_pb2.Trajectory:
        from trajotel.assemble import model_proto  # lazily: model_proto imports this module

        return model_proto.trajectory_to_proto(self)

    @classmethod
    def from_proto(cls, msg: trajectory_pb2.Trajectory) -> Self:
        from trajotel.assemble import model_proto  # lazily: model_proto imports this module

        return model_proto.trajectory_from_proto(cls, msg)


# --- generic dataclass <-> dict -----------------------------------------------------------------

# Element type of every field that holds records; field names are unique enough to key on.
_NESTED: dict[str, type] = {
    "parts": Part,
    "input_messages": Message,
    "output_messages": Message,
    "new_input_messages": Message,
    "system_instructions": Part,
    "tool_calls": ToolCall,
    "usage": Usage,
    "outcome": Outcome,
    "feedback": Feedback,
    "turns": Turn,
}


def _dump(v: Any) -> Any:
    # Copies containers so the returned dict shares nothing mutable with the model.
    if is_dataclass(v):
        return v.to_dict()  # type: ignore[union-attr]
    if isinstance(v, list | tuple):
        return [_dump(x) for x in v]
    if isinstance(v, dict):
        return {k: _dump(x) for k, x in v.items()}
    return v


def _to_dict(obj: Any, skip: str = "") -> dict[str, Any]:
    return {
        f.name: _dump(v) for f in fields(obj) if f.name != skip and (v := getattr(obj, f.name)) is not None
    }


def _from_dict(cls: type, d: Mapping[str, Any]) -> Any:
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in d:
            continue
        v, sub = d[f.name], _NESTED.get(f.name)
        if sub is None:
            kwargs[f.name] = list(v) if isinstance(v, list) else v
        else:
            kwargs[f.name] = [sub.from_dict(x) for x in v] if isinstance(v, list) else sub.from_dict(v)
    return cls(**kwargs)


def _strict_eq(a: Any, b: Any) -> bool:
    """``==`` that also tells 1, 1.0 and True apart, so a turn rebuilt from its previous turn's
    messages serializes byte-for-byte like the original."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_strict_eq(v, b[k]) for k, v in a.items())
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(map(_strict_eq, a, b))
    if is_dataclass(a):
        return all(_strict_eq(getattr(a, f.name), getattr(b, f.name)) for f in fields(a))
    return a == b
