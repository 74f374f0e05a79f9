"""Parquet shapes shared by the chat-message formats (TRL, verl-sft). Not a format (the registry
skips modules whose name starts with ``_``).

Parquet has one struct type per column: every value of a column is written (and read back) with
the union of the fields of all of them, the ones a value lacks as nulls. Chat messages therefore
get one fixed struct (``message_type``): a message read back has every key of
``MESSAGE_KEYS``, the ones it did not have as null, which chat templates and TRL read as absent.
Free-form JSON (tool-call arguments, tool schemas, metadata values) has no fixed struct: it is
written as JSON strings, so that it comes back exactly.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from trajotel.errors import InvalidInputError
from trajotel.export import chat
from trajotel.export.chat import Unexpressible
from trajotel.export.format import ExportOptions

MESSAGE_KEYS = ("role", "content", "reasoning_content", "tool_calls", "tool_call_id", "name")


def message_type(arguments: Any = None) -> Any:
    """A chat message's struct; tool-call ``arguments`` of the given Arrow type (a string)."""
    import pyarrow as pa

    function = pa.struct(
        [("name", pa.string()), ("arguments", pa.string() if arguments is None else arguments)]
    )
    call = pa.struct([("id", pa.string()), ("type", pa.string()), ("function", function)])
    fields = [(key, pa.string()) for key in MESSAGE_KEYS]
    fields[MESSAGE_KEYS.index("tool_calls")] = ("tool_calls", pa.list_(call))
    return pa.struct(fields)


def messages_type() -> Any:
    import pyarrow as pa

    return pa.list_(message_type())


def hf_style(options: ExportOptions) -> chat.ChatStyle:
    """``chat.hf_style``, with tool-call arguments as JSON strings when writing Parquet: an object
    column would be one struct for every call's arguments, each call reading back with the other
    calls' argument names as nulls (which templates print as ``"city": null``)."""
    style = chat.hf_style(options)
    if options.file_type != "parquet":
        return style
    if options.tool_arguments == "object":
        raise InvalidInputError(
            "--tool-arguments object cannot be written as Parquet: one struct type per column would "
            "give every call the other calls' argument names as nulls",
            hint="use --file-type jsonl for object arguments, or --tool-arguments string (the default "
            "with Parquet; needs a chat template that takes string arguments, e.g. Qwen3's)",
        )
    return dataclasses.replace(style, arguments="string")


def check_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``messages`` when the fixed message struct holds them exactly (no other key, text content,
    string arguments), else ``Unexpressible``: a fixed schema would drop or change what does not fit."""
    for message in messages:
        if not set(message) <= set(MESSAGE_KEYS) or not isinstance(message.get("content"), str):
            raise Unexpressible(f"a {message.get('role')} message has no form in the Parquet message struct")
        for call in message.get("tool_calls") or ():
            if not isinstance(call["function"]["arguments"], str):
                raise Unexpressible("tool-call arguments must be JSON strings in Parquet")
    return messages


def json_text(value: Any) -> str | None:
    """A free-form value for a string column: strings as they are, null as null, the rest as JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
