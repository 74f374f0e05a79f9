"""Checking a model's JSON reply against the JSON schema it was asked to follow.

Covers the subset the judge schemas use (object with required properties and no others, array
with items, string, number, integer, boolean, enum, minimum, maximum), so one schema both goes to
the server (``response_format``) and validates the reply: servers without structured outputs, and
models that ignore them, are caught the same way. Problems name the path: ``decisions[2].type``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
}


def problems(value: Any, schema: Mapping[str, Any], path: str = "$") -> list[str]:
    """What is wrong with ``value`` (empty: nothing)."""
    kind = schema.get("type")
    if kind is not None:
        allowed = _TYPES[kind]
        is_bool = isinstance(value, bool)
        if not isinstance(value, allowed) or (is_bool and kind in ("number", "integer")):
            return [f"{path}: expected {kind}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{path}: {value!r} is not one of {', '.join(map(str, schema['enum']))}"]
    found: list[str] = []
    if "minimum" in schema and value < schema["minimum"]:
        found.append(f"{path}: {value} is below the minimum {schema['minimum']}")
    if "maximum" in schema and value > schema["maximum"]:
        found.append(f"{path}: {value} is above the maximum {schema['maximum']}")
    if kind == "object":
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                found.append(f"{path}: missing {name!r}")
        if schema.get("additionalProperties") is False:
            found += [f"{path}: unexpected {name!r}" for name in value if name not in properties]
        for name, sub in properties.items():
            if name in value:
                found += problems(value[name], sub, f"{path}.{name}")
    if kind == "array" and "items" in schema:
        for i, item in enumerate(value):
            found += problems(item, schema["items"], f"{path}[{i}]")
    return found


def strict_object(properties: Mapping[str, Any]) -> dict[str, Any]:
    """An object schema in the shape OpenAI's strict structured outputs require: every property
    required, no others."""
    return {
        "type": "object",
        "properties": dict(properties),
        "required": list(properties),
        "additionalProperties": False,
    }
