"""Round trips of the trajectory model: semconv parts, canonical dict / JSON, protobuf."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.protobuf import json_format, struct_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from trajotel.assemble.model import (
    Feedback,
    Message,
    Outcome,
    Part,
    ToolCall,
    Trajectory,
    Turn,
    Usage,
)
from trajotel.assemble.model_proto import json_to_value, value_to_json
from trajotel.errors import InvalidInputError
from trajotel.proto.trajotel.v1 import trajectory_pb2

# --- strategies ----------------------------------------------------------------------------------

U64 = st.integers(0, 2**64 - 1)
I64 = st.integers(0, 2**63 - 1)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
TEXT = st.text(max_size=12)
OPT_TEXT = st.none() | TEXT
HEX = st.text("0123456789abcdef", min_size=16, max_size=16)
# Keys that collide with the proto's int/float markers must survive too.
KEYS = TEXT | st.sampled_from(["$int", "$float", "$obj", "$schema", "type", "content"])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(2**53 - 2, 2**80)
    | st.integers(-(2**80), -(2**53) + 2)
    | FLOATS
    | st.sampled_from([0.0, -0.0, 1.0, 2.0**60, 1e300])
    | st.text(max_size=20)
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=12,
)
PART_KEYS = {
    "type",
    "content",
    "id",
    "name",
    "arguments",
    "response",
    "mime_type",
    "modality",
    "uri",
    "file_id",
}
PART_TYPES = st.sampled_from(
    ["text", "reasoning", "tool_call", "tool_call_response", "blob", "uri", "file", "compaction", "refusal"]
)

parts = st.builds(
    Part,
    type=PART_TYPES,
    content=OPT_TEXT,
    id=OPT_TEXT,
    name=OPT_TEXT,
    arguments=JSON,
    response=JSON,
    mime_type=OPT_TEXT,
    modality=OPT_TEXT,
    uri=OPT_TEXT,
    file_id=OPT_TEXT,
    extra=st.dictionaries(KEYS.filter(lambda k: k not in PART_KEYS), JSON, max_size=2),
)
messages = st.builds(
    Message,
    role=st.sampled_from(["system", "user", "assistant", "tool", "developer"]),
    parts=st.lists(parts, max_size=3),
    name=OPT_TEXT,
    finish_reason=st.none() | st.sampled_from(["stop", "tool_call", "length"]),
    extra=st.dictionaries(
        KEYS.filter(lambda k: k not in {"role", "parts", "name", "finish_reason"}), JSON, max_size=2
    ),
)
usages = st.builds(Usage, *[st.none() | I64] * 5)
tool_calls = st.builds(
    ToolCall,
    id=TEXT,
    name=TEXT,
    arguments=JSON,
    result=JSON,
    status=st.sampled_from(["pending", "ok", "error"]),
    error_type=OPT_TEXT,
    span_id=st.none() | HEX,
    start_time_unix_nano=st.none() | U64,
    end_time_unix_nano=st.none() | U64,
    result_source=st.none() | st.sampled_from(["execute_tool_span", "next_input"]),
)
feedbacks = st.builds(
    Feedback,
    id=TEXT,
    trajectory_id=TEXT,
    turn_index=st.none() | st.integers(0, 100),
    source=st.sampled_from(["api", "human", "heuristic", "llm_judge", "rule"]),
    value=st.none() | FLOATS,
    label=OPT_TEXT,
    comment=OPT_TEXT,
    author=OPT_TEXT,
    created_at_unix_nano=U64,
)
outcomes = st.builds(
    Outcome,
    label=st.sampled_from(["success", "partial", "failure", "unknown"]),
    confidence=FLOATS,
    reasons=st.lists(TEXT, max_size=2),
    source=TEXT,
)


@st.composite
def trajectories(draw: st.DrawFn) -> Trajectory:
    turns: list[Turn] = []
    context: list[Message] = []
    for index in range(draw(st.integers(0, 4))):
        # Most turns continue the previous turn's history; some start over (compaction).
        keep = draw(st.integers(0, len(context))) if draw(st.booleans()) else len(context)
        inputs = context[:keep] + draw(st.lists(messages, max_size=2))
        outputs = draw(st.lists(messages, max_size=2))
        turns.append(
            Turn(
                index=index,
                trace_id=draw(HEX),
                span_id=draw(HEX),
                provider=draw(OPT_TEXT),
                request_model=draw(OPT_TEXT),
                response_model=draw(OPT_TEXT),
                response_id=draw(OPT_TEXT),
                start_time_unix_nano=draw(U64),
                end_time_unix_nano=draw(U64),
                input_messages=inputs,
                output_messages=outputs,
                tool_calls=draw(st.lists(tool_calls, max_size=2)),
                finish_reasons=draw(st.lists(TEXT, max_size=2)),
                usage=draw(usages),
                error_type=draw(OPT_TEXT),
                status_message=draw(OPT_TEXT),
                reward=draw(st.none() | FLOATS),
                output_token_ids=draw(st.lists(st.integers(0, 2**31), max_size=4)),
                output_logprobs=draw(st.lists(FLOATS, max_size=4)),
                prompt_token_ids=draw(st.lists(st.integers(0, 2**31), max_size=4)),
            )
        )
        context = inputs + outputs
    return Trajectory(
        id=draw(TEXT),
        version=draw(I64),
        tenant=draw(TEXT),
        service_name=draw(OPT_TEXT),
        agent_name=draw(OPT_TEXT),
        agent_id=draw(OPT_TEXT),
        task=draw(OPT_TEXT),
        framework=draw(OPT_TEXT),
        trace_ids=draw(st.lists(HEX, max_size=2)),
        root_span_id=draw(st.none() | HEX),
        parent_trajectory_id=draw(OPT_TEXT),
        conversation_id=draw(OPT_TEXT),
        start_time_unix_nano=draw(U64),
        end_time_unix_nano=draw(U64),
        status=draw(st.sampled_from(["running", "complete", "abandoned", "error"])),
        outcome=draw(outcomes),
        reward=draw(st.none() | FLOATS),
        feedback=draw(st.lists(feedbacks, max_size=2)),
        tags=draw(st.lists(TEXT, max_size=2)),
        metadata=draw(st.dictionaries(TEXT, TEXT, max_size=2)),
        models=draw(st.lists(TEXT, max_size=2)),
        tools_used=draw(st.lists(TEXT, max_size=2)),
        usage=draw(usages),
        system_instructions=draw(st.lists(parts, max_size=2)),
        tool_definitions=draw(st.lists(st.dictionaries(KEYS, JSON, max_size=3), max_size=2)),
        turns=turns,
        span_count=draw(I64),
        assembled_at_unix_nano=draw(U64),
    )


def strict(v: Any) -> str:
    """A rendering that tells 1, 1.0 and True apart (== does not)."""
    return json.dumps(v, sort_keys=True)


def proto_round_trip(traj: Trajectory) -> Trajectory:
    wire = traj.to_proto().SerializeToString()
    return Trajectory.from_proto(trajectory_pb2.Trajectory.FromString(wire))


# --- property tests ------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(trajectories())
def test_dict_json_and_proto_round_trips_are_exact(traj: Trajectory) -> None:
    text = traj.to_json()
    for back in (Trajectory.from_dict(traj.to_dict()), Trajectory.from_json(text), proto_round_trip(traj)):
        assert back == traj
        assert back.to_json() == text


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_json_values_survive_protobuf_value(v: Any) -> None:
    msg = struct_pb2.Value()
    json_to_value(v, msg)
    back = value_to_json(struct_pb2.Value.FromString(msg.SerializeToString()))
    assert strict(back) == strict(v)


@given(st.dictionaries(st.sampled_from(sorted(PART_KEYS)) | KEYS, JSON, max_size=6))
def test_part_semconv_round_trip_is_lossless_for_any_dict(d: dict[str, Any]) -> None:
    assert strict(Part.from_semconv(d).to_semconv()) == strict(d)


@given(
    st.fixed_dictionaries(
        {"parts": st.lists(st.dictionaries(st.sampled_from(sorted(PART_KEYS)) | KEYS, JSON, max_size=4))},
        optional={"role": JSON, "name": JSON, "finish_reason": JSON, "x-extra": JSON},
    )
)
def test_message_semconv_round_trip_is_lossless(d: dict[str, Any]) -> None:
    assert strict(Message.from_semconv(d).to_semconv()) == strict(d)


# --- examples ------------------------------------------------------------------------------------


def test_semconv_parts() -> None:
    call = Part.from_semconv({"type": "tool_call", "id": "call_1", "name": "add", "arguments": {"a": 1}})
    assert (call.type, call.id, call.name, call.arguments) == ("tool_call", "call_1", "add", {"a": 1})
    assert call.to_semconv() == {"type": "tool_call", "id": "call_1", "name": "add", "arguments": {"a": 1}}
    response = Part.from_semconv({"type": "tool_call_response", "id": "call_1", "response": 42})
    assert response.response == 42 and response.extra == {}
    assert Part("text", "hi").to_semconv() == {"type": "text", "content": "hi"}
    # Unknown keys, and known keys with null or unexpected values, are kept in extra.
    odd = Part.from_semconv({"type": "text", "content": None, "annotations": [1], "name": 7})
    assert odd.content is None and odd.name is None
    assert odd.extra == {"content": None, "annotations": [1], "name": 7}


def test_message_semconv() -> None:
    d = {"role": "assistant", "parts": [{"type": "text", "content": "Yes."}], "finish_reason": "stop", "x": 1}
    msg = Message.from_semconv(d)
    assert msg == Message("assistant", [Part("text", "Yes.")], finish_reason="stop", extra={"x": 1})
    assert msg.to_semconv() == d


def test_json_value_encoding_keeps_ints_floats_and_marker_objects() -> None:
    values = [1, -(2**53), 2**53 + 1, -(2**70), 10**30, 1.0, -0.0, 0.5, True, None, "1"]
    values += [{"$int": "5"}, {"$float": 1}, {"$obj": {}}, {"$schema": "x", "$int": 1}, [], {}]
    for v in values:
        msg = struct_pb2.Value()
        json_to_value(v, msg)
        assert strict(value_to_json(msg)) == strict(v), v
    # Plain ints stay plain numbers for readers in other languages.
    msg = struct_pb2.Value()
    json_to_value({"a": 3}, msg)
    assert json_format.MessageToDict(msg) == {"a": 3.0}
    # A Value written by any other producer reads naturally: integral numbers become ints.
    foreign = json_format.ParseDict({"n": 7, "x": 2.5, "big": 1e300}, struct_pb2.Value())
    assert strict(value_to_json(foreign)) == strict({"n": 7, "x": 2.5, "big": 1e300})
    with pytest.raises(TypeError):
        json_to_value(object(), struct_pb2.Value())


def _text(role: str, text: str) -> Message:
    return Message(role, [Part("text", text)])


def _three_turn_run() -> Trajectory:
    user = _text("user", "What is 2+3, then double it?")
    call = Message(
        "assistant",
        [Part("tool_call", id="c1", name="add", arguments={"a": 2, "b": 3})],
        finish_reason="tool_call",
    )
    result = Message("tool", [Part("tool_call_response", id="c1", response=5)])
    answer = _text("assistant", "5; doubled is 10.")
    # Turn 2 runs after the agent compacted its context: a summary replaces the history.
    summary = Message(
        "user", [Part("compaction", id="cmp_1", content="User asked 2+3 doubled; answered 10.")]
    )
    turns = [
        Turn(
            0, "t" * 32, "a" * 16, input_messages=[user], output_messages=[call], finish_reasons=["tool_call"]
        ),
        Turn(1, "t" * 32, "b" * 16, input_messages=[user, call, result], output_messages=[answer]),
        Turn(2, "t" * 32, "c" * 16, input_messages=[summary, _text("user", "and triple?")]),
    ]
    turns[0].tool_calls = [ToolCall("c1", "add", {"a": 2, "b": 3}, 5, "ok", result_source="next_input")]
    return Trajectory("traj-1", turns=turns)


def test_inherited_prefix_encoding() -> None:
    traj = _three_turn_run()
    d = traj.to_dict()
    encoded = [(t["inherited_input_count"], len(t["new_input_messages"])) for t in d["turns"]]
    assert encoded == [(0, 1), (2, 1), (0, 2)]
    assert all("input_messages" not in t for t in d["turns"])
    msg = traj.to_proto()
    assert [(t.inherited_input_count, len(t.new_input_messages)) for t in msg.turns] == encoded
    for back in (Trajectory.from_dict(d), proto_round_trip(traj)):
        assert back == traj
        assert back.turns[1].input_messages == traj.turns[1].input_messages


def test_prefix_compares_json_types_strictly() -> None:
    # 1 == 1.0 in Python; inheriting the previous turn's 1.0 for this turn's 1 would change bytes.
    first = Turn(
        0, "t", "a", output_messages=[Message("assistant", [Part("tool_call", arguments={"x": 1.0})])]
    )
    second = Turn(1, "t", "b", input_messages=[Message("assistant", [Part("tool_call", arguments={"x": 1})])])
    traj = Trajectory("t", turns=[first, second])
    assert traj.to_dict()["turns"][1]["inherited_input_count"] == 0
    assert Trajectory.from_json(traj.to_json()).to_json() == traj.to_json()


def test_bad_inherited_count_is_rejected() -> None:
    d = _three_turn_run().to_dict()
    d["turns"][1]["inherited_input_count"] = 9
    with pytest.raises(InvalidInputError, match="turn 1"):
        Trajectory.from_dict(d)


def test_canonical_json_is_byte_stable_and_omits_none() -> None:
    traj = _three_turn_run()
    text = traj.to_json()
    assert text == Trajectory.from_json(text).to_json() == proto_round_trip(traj).to_json()
    assert json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=False) == text
    d = traj.to_dict()
    assert "reward" not in d and "task" not in d and "reward" not in d["turns"][0]
    assert d["turns"][0]["tool_calls"][0] == {
        "id": "c1",
        "name": "add",
        "arguments": {"a": 2, "b": 3},
        "result": 5,
        "status": "ok",
        "result_source": "next_input",
    }


def test_usage_addition() -> None:
    assert Usage() + Usage() == Usage()
    assert Usage(input_tokens=3) + Usage(output_tokens=4) == Usage(input_tokens=3, output_tokens=4)
    assert Usage(1, 2, 3) + Usage(10, None, 30, 5) == Usage(11, 2, 33, 5)
    assert sum([Usage(1), Usage(2), Usage(None, 7)]) == Usage(3, 7)


def test_derived_properties() -> None:
    turn = Turn(0, "t", "s", start_time_unix_nano=1_000_000, end_time_unix_nano=3_500_000)
    assert turn.latency_ms == 2.5
    assert turn.finish_reason is None
    turn.finish_reasons = ["stop", "length"]
    assert turn.finish_reason == "stop"
    traj = Trajectory("t", start_time_unix_nano=0, end_time_unix_nano=2_000_000_000)
    assert traj.duration_ms == 2000.0
