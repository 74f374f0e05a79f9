"""OTLP AnyValue -> Python values and -> the strings stored in attribute maps."""

from __future__ import annotations

import base64
import json
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue


def any_value_to_python(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "array_value":
        return [any_value_to_python(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value_to_python(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None


def dumps(value: Any) -> str:
    """Compact, deterministic JSON (the form content is hashed and stored in)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def any_value_to_text(value: AnyValue) -> str:
    """Attribute maps hold strings: scalars as text, arrays and maps as JSON."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "int_value":
        return str(value.int_value)
    if kind == "double_value":
        return repr(value.double_value)
    if kind is None:
        return ""
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return json.dumps(any_value_to_python(value), ensure_ascii=False, separators=(",", ":"))


def attributes_to_map(attributes: Any) -> dict[str, str]:
    return {kv.key: any_value_to_text(kv.value) for kv in attributes}


def ns_to_text(ns: int) -> str:
    """Unix nanoseconds in the 'seconds.fraction' text ClickHouse's DateTime64(9) parses exactly.

    Seconds are padded to 10 digits: ClickHouse reads shorter numbers (times before 1973, and
    OTLP's 0 = unknown) as a date, not as a timestamp."""
    return f"{ns // 1_000_000_000:010d}.{ns % 1_000_000_000:09d}"


def json_or_text(text: str | None) -> Any:
    """A text that is JSON when it parses (tool-call arguments and results, schemas), else the
    text itself; None stays None."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text
