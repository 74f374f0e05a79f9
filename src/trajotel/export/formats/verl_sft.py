"""verl multi-turn SFT, Parquet: what ``MultiTurnSFTDataset`` reads (``messages``, ``tools``,
``enable_thinking``; ``data.multiturn.messages_key`` / ``tools_key``).

verl reads every Parquet file with ``pd.read_parquet``, concatenates them, turns numpy arrays into
lists and hands each row's ``messages`` and ``tools`` to the chat template as they are, one
message at a time (the tools with the first), training every assistant message. Parquet has one
struct type per column, so a JSON value is read back with the fields of every other value of its
column, as nulls, which the template would print (``"x": null`` in a tool schema). Hence:

* tool-call ``arguments`` are JSON strings (Qwen3-family templates print a string as it is;
  ``--tool-arguments object`` for templates that iterate them, e.g. Qwen3.5+);
* ``tools`` and object arguments are checked here: a record is written only if reading it back
  as verl does gives the run's values unchanged (the driver puts records of different
  structure in different files, ``Format.parquet_schema_of``). No Parquet layout can give verl
  tools whose schemas differ in shape within one row (one list, one struct type), nor an empty
  object (``"properties": {}``): such a record is left out (counted as skipped);
* messages have one fixed struct: the keys a message does not have come back as null (a user
  message's ``tool_calls``), which templates read as absent;
* ``enable_thinking`` is true when an assistant message has ``reasoning_content`` (kept by
  default, as ``reasoning_content``), else null (the template's default).

Trajectory level only: verl trains every assistant message of ``messages`` (no weights), so
per-call records would train earlier outputs again; history the run did not produce
(few-shot examples) is trained too.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Sequence
from typing import Any

from trajotel.assemble.model import Trajectory
from trajotel.export import chat, shaping
from trajotel.export.chat import Unexpressible
from trajotel.export.format import ExportOptions, Format
from trajotel.export.formats._parquet import MESSAGE_KEYS
from trajotel.export.formats._parquet import message_type as _message_type


def _schema(arguments: Any = None, tools: Any = None) -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            ("messages", pa.list_(_message_type(pa.string() if arguments is None else arguments))),
            ("tools", pa.null() if tools is None else tools),
            ("enable_thinking", pa.bool_()),
        ]
    )


def parquet_schema() -> Any:
    """Records without tools (and an empty export's file)."""
    return _schema()


# --- what verl reads back -----------------------------------------------------------------------


def as_verl_reads(value: Any) -> Any:
    """verl's ``convert_nested_value_to_list_recursive`` (numpy arrays to lists), numpy scalars
    as the Python values chat templates see."""
    import numpy as np

    if isinstance(value, dict):
        return {k: as_verl_reads(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [as_verl_reads(v) for v in value]
    if isinstance(value, np.ndarray):
        return as_verl_reads(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _json(value: Any) -> str:
    # Types and key order count: what a template's tojson prints.
    return json.dumps(value, ensure_ascii=False, allow_nan=True)


def _empty_struct(kind: Any) -> bool:
    import pyarrow as pa

    if pa.types.is_struct(kind):
        return kind.num_fields == 0 or any(_empty_struct(kind.field(i).type) for i in range(kind.num_fields))
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return _empty_struct(kind.value_type)
    return False


def _unchanged_type(values: list[Any], what: str) -> Any:
    """The Arrow type ``values`` (one row's values of a column, or of a nested field) are
    written with, once reading them back as verl does (pandas, numpy arrays as lists) gives
    them back unchanged; else ``Unexpressible``."""
    import pyarrow as pa

    try:
        array = pa.array(values)
    except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
        raise Unexpressible(f"{what}: no Parquet type holds them ({exc})") from None
    if _empty_struct(array.type):
        raise Unexpressible(f'{what}: an empty object (e.g. "properties": {{}}) has no Parquet form')
    back = [as_verl_reads(v) for v in pa.table({"v": array}).to_pandas()["v"].tolist()]
    if _json(back) != _json(values):
        raise Unexpressible(
            f"{what}: Parquet would give them back changed (one struct type for all of them: "
            "each would gain the others' fields as nulls, or its numbers another type)"
        )
    return array.type


@functools.lru_cache(maxsize=256)
def _tools_type(tools: str) -> Any:
    """Per distinct tool set (runs of one agent share theirs)."""
    return _unchanged_type([json.loads(tools)], "tools")


def parquet_schema_of(record: dict[str, Any]) -> Any:
    """The Parquet schema ``record`` is written with (the driver writes one file per distinct
    schema); ``Unexpressible`` when verl would not read it back unchanged."""
    arguments = []
    for message in record["messages"]:
        if not set(message) <= set(MESSAGE_KEYS) or not isinstance(message.get("content"), str):
            raise Unexpressible(f"a {message.get('role')} message has no form in verl-sft's message struct")
        arguments.extend(c["function"]["arguments"] for c in message.get("tool_calls") or ())
    tools = None
    if record["tools"] is not None:
        tools = _tools_type(json.dumps(record["tools"], ensure_ascii=False))
    kind = None
    if any(not isinstance(a, str) for a in arguments):
        kind = _unchanged_type(arguments, "tool-call arguments")
    return _schema(kind, tools)


# --- records --------------------------------------------------------------------------------------


def record(trajectory: Trajectory, example: shaping.Conversation, style: chat.ChatStyle) -> dict[str, Any]:
    messages = chat.chat_messages(example.messages, style)
    out = {
        "messages": messages,
        "tools": chat.chat_tools(trajectory) or None,
        "enable_thinking": True if any(m.get("reasoning_content") for m in messages) else None,
    }
    parquet_schema_of(out)  # raises Unexpressible: the record is left out
    return out


def records(items: Sequence[Trajectory], options: ExportOptions) -> Iterator[dict[str, Any]]:
    style = chat.style(
        options, arguments="string", reasoning=True, tool_name=True, null_content=False, media=False
    )
    yield from shaping.each_example(items, options, lambda t, e: record(t, e, style))


FORMAT = Format(
    name="verl-sft",
    description="verl multi-turn SFT (Parquet): messages, tools; one file per tool-set structure",
    file_types=("parquet",),
    records=records,
    parquet_schema=parquet_schema,
    parquet_schema_of=parquet_schema_of,
)
