"""The trajectory model <-> its protobuf message (``proto/trajotel/v1/trajectory.proto``).

``Trajectory.to_proto`` / ``Trajectory.from_proto`` delegate here. Like the canonical dict form,
the proto stores a turn's input by reference: ``inherited_input_count`` messages carried over from
the previous turn's input + output, then only ``new_input_messages``. Arbitrary JSON (tool
arguments and results, ``extra`` keys, tool definitions) travels in google.protobuf.Value /
Struct with the encoding described at ``json_to_value``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeVar

from google.protobuf import struct_pb2

from trajotel.assemble.model import _NESTED, Message, _inherited
from trajotel.proto.trajotel.v1 import trajectory_pb2

if TYPE_CHECKING:
    from trajotel.assemble.model import Trajectory

_T = TypeVar("_T", bound="Trajectory")


def trajectory_to_proto(traj: Trajectory) -> trajectory_pb2.Trajectory:
    msg = trajectory_pb2.Trajectory()
    _to_proto(traj, msg)  # turns without input_messages, which has no proto field
    for turn, previous, turn_msg in zip(traj.turns, [None, *traj.turns], msg.turns, strict=False):
        n = turn.inherited_input_count(previous)
        turn_msg.inherited_input_count = n
        for m in turn.input_messages[n:]:
            _to_proto(m, turn_msg.new_input_messages.add())
    return msg


def trajectory_from_proto(cls: type[_T], msg: trajectory_pb2.Trajectory) -> _T:
    traj = _from_proto(cls, msg)
    previous = None
    for turn, turn_msg in zip(traj.turns, msg.turns, strict=True):
        new = [_from_proto(Message, m) for m in turn_msg.new_input_messages]
        turn.input_messages = _inherited(previous, turn_msg.inherited_input_count, turn.index) + new
        previous = turn
    return traj


# --- generic dataclass <-> proto ----------------------------------------------------------------


def _to_proto(obj: Any, msg: Any) -> None:
    for f in fields(obj):
        fd = msg.DESCRIPTOR.fields_by_name.get(f.name)
        value = getattr(obj, f.name)
        if fd is None or value is None:
            continue
        target = getattr(msg, f.name)
        kind = fd.message_type.full_name if fd.message_type else None
        if kind is None:
            if fd.is_repeated:
                target.extend(value)
            else:
                setattr(msg, f.name, value)
        elif kind == "google.protobuf.Value":
            json_to_value(value, target)
        elif kind == "google.protobuf.Struct":
            if fd.is_repeated:
                for d in value:
                    _object_to_struct(d, target.add())
            elif value:  # an empty extra stays unset: nothing to write
                _object_to_struct(value, target)
        elif fd.message_type.GetOptions().map_entry:
            target.update(value)
        elif fd.is_repeated:
            for item in value:
                _to_proto(item, target.add())
        else:
            _to_proto(value, target)


def _from_proto(cls: type, msg: Any) -> Any:
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        fd = msg.DESCRIPTOR.fields_by_name.get(f.name)
        if fd is None:
            continue
        v = getattr(msg, f.name)
        kind = fd.message_type.full_name if fd.message_type else None
        if fd.is_repeated and kind is None:
            kwargs[f.name] = list(v)
        elif kind is None or kind == "google.protobuf.Value":
            if fd.has_presence and not msg.HasField(f.name):
                kwargs[f.name] = None
            else:
                kwargs[f.name] = value_to_json(v) if kind else v
        elif kind == "google.protobuf.Struct":
            kwargs[f.name] = [_struct_to_object(s) for s in v] if fd.is_repeated else _struct_to_object(v)
        elif fd.message_type.GetOptions().map_entry:
            kwargs[f.name] = dict(v)
        elif fd.is_repeated:
            kwargs[f.name] = [_from_proto(_NESTED[f.name], m) for m in v]
        else:
            kwargs[f.name] = _from_proto(_NESTED[f.name], v)
    return cls(**kwargs)


# --- JSON values in google.protobuf.Value -------------------------------------------------------
# Value keeps every number as a double, so 1 and 1.0 would collapse and ints beyond 2**53 would
# round. The encoding (also documented in the .proto): a number_value is an int when integral and
# within +-2**53, otherwise a float; larger ints travel as {"$int": "<digits>"}, integral floats
# as {"$float": x}, and a real object whose single key is one of these markers is wrapped as
# {"$obj": {...}}. Plain ints, the common case, stay plain numbers for readers in any language.

_EXACT = 2**53
_MARKERS = ("$int", "$float", "$obj")


def json_to_value(v: Any, out: struct_pb2.Value) -> None:
    """Write the JSON value ``v`` into ``out`` (see the encoding above)."""
    if v is None:
        out.null_value = struct_pb2.NULL_VALUE
    elif isinstance(v, bool):  # before int: bool is an int subclass
        out.bool_value = v
    elif isinstance(v, int):
        if -_EXACT <= v <= _EXACT:
            out.number_value = v
        else:
            out.struct_value.fields["$int"].string_value = str(v)
    elif isinstance(v, float):
        if v.is_integer():
            out.struct_value.fields["$float"].number_value = v
        else:
            out.number_value = v
    elif isinstance(v, str):
        out.string_value = v
    elif isinstance(v, Mapping):
        if len(v) == 1 and next(iter(v)) in _MARKERS:
            _object_to_struct(v, out.struct_value.fields["$obj"].struct_value)
        else:
            _object_to_struct(v, out.struct_value)
    elif isinstance(v, list | tuple):
        out.list_value.SetInParent()  # an empty list is still a list
        for item in v:
            json_to_value(item, out.list_value.values.add())
    else:
        raise TypeError(f"not a JSON value: {type(v).__name__}")


def value_to_json(m: struct_pb2.Value) -> Any:
    """Read a JSON value written by ``json_to_value`` (or by any plain Value writer)."""
    kind = m.WhichOneof("kind")
    if kind == "number_value":
        x = m.number_value
        return int(x) if x.is_integer() and -_EXACT <= x <= _EXACT else x
    if kind == "string_value":
        return m.string_value
    if kind == "bool_value":
        return m.bool_value
    if kind == "list_value":
        return [value_to_json(x) for x in m.list_value.values]
    if kind == "struct_value":
        entries = m.struct_value.fields
        if len(entries) == 1:
            ((key, inner),) = entries.items()
            if key == "$int":
                return int(inner.string_value)
            if key == "$float":
                return float(inner.number_value)
            if key == "$obj":
                return _struct_to_object(inner.struct_value)
        return _struct_to_object(m.struct_value)
    return None  # null_value, or unset


def _object_to_struct(d: Mapping[str, Any], out: struct_pb2.Struct) -> None:
    out.SetInParent()
    for key, value in d.items():
        json_to_value(value, out.fields[key])


def _struct_to_object(s: struct_pb2.Struct) -> dict[str, Any]:
    return {key: value_to_json(value) for key, value in s.fields.items()}
