"""TRL SFT dataset (JSONL that ``datasets`` loads; SFTTrainer).

Trajectory level: *language modeling* rows, ``messages`` (the whole conversation; train with
``assistant_only_loss=True`` so only assistant messages count). Turn level: *prompt-completion*
rows, ``prompt`` (the call's input) and ``completion`` (its output), loss on the completion.
``tools`` is a JSON string, which SFTTrainer ``json.loads``. Tool-call arguments are objects and
reasoning is ``reasoning_content`` by default: what the chat template renders decides, so check
yours (``--tool-arguments string`` for templates that print them, e.g. DeepSeek-V3).

Parquet: the same rows with one fixed schema (``datasets.load_dataset("parquet", ...)`` reads
them): messages have one struct (the keys a message lacks come back as null, which TRL and the
templates read as absent) and tool-call arguments are JSON strings (``_parquet``), so the chat
template must take string arguments (Qwen3's does; Qwen3.5+ templates iterate them: use JSONL).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from trajotel.assemble.model import Trajectory
from trajotel.export import chat, shaping
from trajotel.export.format import ExportOptions, Format
from trajotel.export.formats import _parquet


def record(
    trajectory: Trajectory,
    example: shaping.Conversation,
    style: chat.ChatStyle,
    level: str,
    parquet: bool = False,
) -> dict[str, Any]:
    if level == "turn":
        prompt, (completion,) = chat.chat_branches(example.messages[:-1], [example.messages[-1:]], style)
        out: dict[str, Any] = {"prompt": prompt, "completion": completion}
    else:
        out = {"messages": chat.chat_messages(example.messages, style)}
    out["tools"] = chat.tools_json(trajectory)
    if parquet:
        for key in ("messages", "prompt", "completion"):
            if key in out:
                _parquet.check_messages(out[key])
    return out


def records(items: Sequence[Trajectory], options: ExportOptions) -> Iterator[dict[str, Any]]:
    style = _parquet.hf_style(options)
    parquet = options.file_type == "parquet"
    yield from shaping.each_example(items, options, lambda t, e: record(t, e, style, options.level, parquet))


def _schema(*message_columns: str) -> Any:
    import pyarrow as pa

    return pa.schema([*((c, _parquet.messages_type()) for c in message_columns), ("tools", pa.string())])


def parquet_schema() -> Any:
    """Trajectory-level rows (and an empty export's file)."""
    return _schema("messages")


def parquet_schema_of(record: dict[str, Any]) -> Any:
    """The level's schema: ``messages``, or ``prompt`` and ``completion`` (one per export)."""
    return _schema("messages") if "messages" in record else _schema("prompt", "completion")


FORMAT = Format(
    name="trl-sft",
    description="TRL SFT rows: messages (trajectory) or prompt/completion (turn), tools as a JSON string",
    file_types=("jsonl", "parquet"),
    levels=("trajectory", "turn"),
    records=records,
    parquet_schema=parquet_schema,
    parquet_schema_of=parquet_schema_of,
)
