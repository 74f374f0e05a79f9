"""Anthropic Messages API values as GenAI attributes: content blocks → parts, usage, stop reasons.

Every reader accepts plain dicts, TypedDicts or the SDK's pydantic models (``genai.field`` reads
all of them) and never mutates them. The stream accumulator assembles ``RawMessageStreamEvent``s
into the shape of a non-streamed ``Message`` so one code path records both.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from opentelemetry.trace import Span

from trajotel import semconv as sc
from trajotel.instrument import genai

# Not in trajotel.semconv yet (no other provider sends it); the convention's name.
GEN_AI_REQUEST_TOP_K = "gen_ai.request.top_k"

_STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_call",
}


def map_stop_reason(raw: Any) -> str:
    """Anthropic ``stop_reason`` → GenAI finish reason; unknown values pass through."""
    if not isinstance(raw, str) or not raw:
        return "error"  # a stream cut short has none, as genai.map_finish_reason says
    return _STOP_REASONS.get(raw, raw)


def _items(value: Any) -> list[Any]:
    if value is None or not genai.is_given(value):
        return []
    if isinstance(value, (str, bytes, dict)) or not isinstance(value, (list, tuple)):
        return [value]
    return list(value)


def _text_part(text: str) -> dict[str, Any]:
    return {"type": sc.PART_TEXT, "content": text}


def _modality(mime_type: Any) -> str:
    major = mime_type.split("/", 1)[0] if isinstance(mime_type, str) else ""
    return major if major in ("image", "audio", "video") else "document"


def _source_part(block: Any, default_modality: str) -> dict[str, Any]:
    """An image/document block's ``source`` as a blob, uri or file part."""
    source = genai.field(block, "source")
    kind = genai.field(source, "type")
    mime_type = genai.field(source, "media_type")
    modality = _modality(mime_type) if mime_type else default_modality
    if kind == "url":
        return {"type": sc.PART_URI, "modality": modality, "uri": genai.field(source, "url")}
    if kind == "file":
        return {"type": sc.PART_FILE, "modality": modality, "file_id": genai.field(source, "file_id")}
    if kind == "text":  # a plain-text document
        part = {"type": sc.PART_BLOB, "modality": "document", "content": genai.field(source, "data")}
        part["mime_type"] = mime_type or "text/plain"
        return part
    part = {"type": sc.PART_BLOB, "modality": modality, "content": genai.field(source, "data")}
    if mime_type:
        part["mime_type"] = mime_type
    return part


def _tool_result_response(content: Any) -> Any:
    """A tool_result's content: text stays text; other blocks keep their JSON shape."""
    if content is None or isinstance(content, str):
        return content if content is not None else ""
    blocks = _items(content)
    if all(genai.field(b, "type") == "text" for b in blocks):
        return "".join(str(genai.field(b, "text", "")) for b in blocks)
    return json.loads(genai.to_json(blocks))


def block_part(block: Any) -> dict[str, Any] | None:
    """One content block as a GenAI part (None for a block that carries nothing to record)."""
    if isinstance(block, str):
        return _text_part(block) if block else None
    kind = genai.field(block, "type")
    if kind == "text":
        text = genai.field(block, "text", "")
        return _text_part(text) if text else None
    if kind in ("tool_use", "server_tool_use"):
        return {
            "type": sc.PART_TOOL_CALL,
            "id": genai.field(block, "id"),
            "name": genai.field(block, "name"),
            "arguments": genai.parse_arguments(genai.field(block, "input")),
        }
    if kind == "tool_result":
        return {
            "type": sc.PART_TOOL_CALL_RESPONSE,
            "id": genai.field(block, "tool_use_id"),
            "response": _tool_result_response(genai.field(block, "content")),
        }
    if kind == "thinking":
        return {"type": sc.PART_REASONING, "content": genai.field(block, "thinking", "")}
    if kind == "image":
        return _source_part(block, "image")
    if kind == "document":
        return _source_part(block, "document")
    # Unknown blocks (redacted thinking, server tool results, ...) travel as generic parts.
    generic = json.loads(genai.to_json(block))
    return generic if isinstance(generic, dict) else {"type": str(kind), "content": generic}


def content_parts(content: Any) -> list[dict[str, Any]]:
    """A message's ``content`` (string or blocks) as GenAI parts."""
    parts = []
    for block in _items(content):
        part = block_part(block)
        if part is not None:
            parts.append(part)
    return parts


def input_messages(messages: Any) -> list[dict[str, Any]]:
    """Request ``messages``; a tool_result stays in the message (and role) it came in."""
    return [
        {"role": genai.field(message, "role"), "parts": content_parts(genai.field(message, "content"))}
        for message in _items(messages)
    ]


def system_instructions(system: Any) -> list[dict[str, Any]]:
    """The ``system`` parameter (string or text blocks) as parts."""
    return content_parts(system)


def tool_definitions(tools: Any) -> list[dict[str, Any]]:
    """Request tools as GenAI definitions; server tools (with a versioned ``type``) keep it."""
    definitions = []
    for tool in _items(tools):
        kind = genai.field(tool, "type")
        # Custom tools have no type or "custom"; they are what the conventions call functions.
        definition: dict[str, Any] = {
            "type": "function" if kind in (None, "custom") else kind,
            "name": genai.field(tool, "name"),
        }
        if genai.field(tool, "description") is not None:
            definition["description"] = genai.field(tool, "description")
        if genai.field(tool, "input_schema") is not None:
            definition["parameters"] = genai.field(tool, "input_schema")
        definitions.append(definition)
    return definitions


def output_messages(message: Any) -> list[dict[str, Any]]:
    """The response ``Message`` as the one GenAI output message."""
    return [
        {
            "role": "assistant",
            "parts": content_parts(genai.field(message, "content")),
            "finish_reason": map_stop_reason(genai.field(message, "stop_reason")),
        }
    ]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def usage_attributes(usage: Any) -> dict[str, int]:
    """Usage attributes; the conventions' input count includes the cached input.

    Anthropic's ``input_tokens`` excludes the tokens read from or written to the cache.
    """
    base = _int(genai.field(usage, "input_tokens"))
    read = _int(genai.field(usage, "cache_read_input_tokens"))
    write = _int(genai.field(usage, "cache_creation_input_tokens"))
    values = {
        sc.GEN_AI_USAGE_INPUT_TOKENS: None if base is None else base + (read or 0) + (write or 0),
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: _int(genai.field(usage, "output_tokens")),
        sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: read,
        sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: write,
    }
    return {k: v for k, v in values.items() if v is not None}


# --- streams -------------------------------------------------------------------------------


class _Block:
    __slots__ = ("json", "start", "text", "thinking")

    def __init__(self, start: Any) -> None:
        self.start = start  # the content_block of content_block_start
        self.text: list[str] = []
        self.thinking: list[str] = []
        self.json: list[str] = []

    def block(self) -> dict[str, Any]:
        kind = genai.field(self.start, "type")
        if kind == "text":
            return {"type": "text", "text": "".join(self.text)}
        if kind == "thinking":
            return {"type": "thinking", "thinking": "".join(self.thinking)}
        if kind in ("tool_use", "server_tool_use"):
            raw = "".join(self.json)
            # input_json_delta pieces join to the input's JSON; none at all means {}.
            arguments = genai.parse_arguments(raw) if raw else genai.field(self.start, "input", {})
            return {
                "type": kind,
                "id": genai.field(self.start, "id"),
                "name": genai.field(self.start, "name"),
                "input": arguments,
            }
        generic = json.loads(genai.to_json(self.start))
        return generic if isinstance(generic, dict) else {"type": str(kind)}


_USAGE_KEYS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


class MessageEventAccumulator:
    """Assembles ``RawMessageStreamEvent``s (objects or dicts) into a ``Message``-shaped dict.

    ``keep_content=False`` keeps only ids, stop reason and usage, so a stream's text is not held
    in memory when no content is recorded.
    """

    def __init__(self, on_finish: Callable[[Span, dict[str, Any]], None], keep_content: bool = True) -> None:
        self._on_finish = on_finish
        self._keep_content = keep_content
        self._message: dict[str, Any] = {}
        self._usage: dict[str, Any] = {}
        self._blocks: dict[int, _Block] = {}

    def _merge_usage(self, usage: Any) -> None:
        # message_delta's usage is cumulative: its counts replace message_start's.
        for key in _USAGE_KEYS:
            value = _int(genai.field(usage, key))
            if value is not None:
                self._usage[key] = value

    def add(self, event: Any) -> None:
        kind = genai.field(event, "type")
        if kind == "message_start":
            message = genai.field(event, "message")
            for key in ("id", "model", "role"):
                if genai.field(message, key) is not None:
                    self._message[key] = genai.field(message, key)
            self._merge_usage(genai.field(message, "usage"))
        elif kind == "message_delta":
            delta = genai.field(event, "delta")
            if genai.field(delta, "stop_reason") is not None:
                self._message["stop_reason"] = genai.field(delta, "stop_reason")
            self._merge_usage(genai.field(event, "usage"))
        elif not self._keep_content:
            return
        elif kind == "content_block_start":
            self._blocks[self._index(event)] = _Block(genai.field(event, "content_block"))
        elif kind == "content_block_delta":
            block = self._blocks.get(self._index(event))
            if block is not None:
                self._add_delta(block, genai.field(event, "delta"))

    @staticmethod
    def _index(event: Any) -> int:
        index = genai.field(event, "index", 0)
        return index if isinstance(index, int) else 0

    @staticmethod
    def _add_delta(block: _Block, delta: Any) -> None:
        kind = genai.field(delta, "type")
        if kind == "text_delta":
            block.text.append(str(genai.field(delta, "text", "")))
        elif kind == "thinking_delta":
            block.thinking.append(str(genai.field(delta, "thinking", "")))
        elif kind == "input_json_delta":
            block.json.append(str(genai.field(delta, "partial_json", "")))

    def message(self) -> dict[str, Any]:
        """What was streamed so far; ``usage`` only if sent, ``stop_reason`` None if cut short."""
        result = dict(self._message)
        result.setdefault("stop_reason", None)
        result["content"] = [block.block() for _, block in sorted(self._blocks.items())]
        if self._usage:
            result["usage"] = dict(self._usage)
        return result

    def finish(self, span: Span) -> None:
        self._on_finish(span, self.message())
