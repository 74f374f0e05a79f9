"""GenAI message content out of span attributes and into content-addressed bodies.

Each message is stored as canonical JSON (sorted keys, compact) under the hash of that text, so
an agent's history, repeated in every later model call, is stored once. Canonicalizing is the
hot spot of ingest (every span re-sends its whole history), so the canonical form of a message
is cached by the exact text it arrived in: a history message costs a parse and a lookup.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from trajotel import semconv as sc
from trajotel.instrument import genai
from trajotel.normalize.records import (
    KIND_MESSAGE,
    KIND_SYSTEM_INSTRUCTIONS,
    KIND_TOOL_DEFINITIONS,
    NormalizedBatch,
    content_hash,
)
from trajotel.normalize.values import any_value_to_python, dumps, json_or_text

_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")
MESSAGE_KEYS = (sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES)


def split_json_array(text: str, resume_at: int | None = None) -> tuple[list[tuple[str, Any]], int]:
    """The elements of a JSON array text, each with the exact text it was written as, and the
    offset just past the last element. ``resume_at`` is such an offset from an earlier call on a
    prefix of ``text``: parsing continues from there (the elements before it are not returned)."""
    out: list[tuple[str, Any]] = []
    if resume_at is None:
        pos = _SPACE.match(text, 0).end()  # type: ignore[union-attr]
        if text[pos : pos + 1] != "[":
            raise ValueError("must be a JSON array of messages")
        pos = last_end = _SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
        expect_value = text[pos : pos + 1] != "]"
    else:
        pos = last_end = resume_at
        expect_value = False
    while True:
        if expect_value:
            value, last_end = _DECODER.raw_decode(text, pos)
            out.append((text[pos:last_end], value))
            pos = last_end
        pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
        separator = text[pos : pos + 1]
        if separator == "]":
            break
        if separator != "," or (not expect_value and resume_at is None):
            raise ValueError(f"expected ',' or ']' at character {pos}")
        pos = _SPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
        expect_value = True
    if _SPACE.match(text, pos + 1).end() != len(text):  # type: ignore[union-attr]
        raise ValueError(f"extra data after the array at character {pos + 1}")
    return out, last_end


class HistoryCache:
    """Per trace, the last input-message array seen, up to the end of its last element, with
    the content keys of its elements. An agent's next model call usually re-sends that array
    and appends to it; then only the appended messages are parsed."""

    def __init__(self, capacity: int = 20_000) -> None:
        self.capacity = capacity
        self._last: OrderedDict[str, tuple[str, list[tuple[str, str]]]] = OrderedDict()

    def get(self, trace: str) -> tuple[str, list[tuple[str, str]]] | None:
        return self._last.get(trace)

    def put(self, trace: str, prefix: str, items: list[tuple[str, str]]) -> None:
        self._last[trace] = (prefix, items)
        self._last.move_to_end(trace)
        if len(self._last) > self.capacity:
            self._last.popitem(last=False)


def canonical_message(message: Any) -> Any:
    """A message in the canonical parts model, made uniform where senders differ: tool-call
    ``arguments`` sent as a JSON string (pydantic-ai, some SDKs) become the JSON value the
    conventions call for, as trajotel's own instrumentation records them (a string that is not
    JSON stays as sent); a tool result's ``result`` (pydantic-ai, an old example of the
    conventions) is named ``response``. Works in place on freshly parsed values."""
    parts = message.get("parts") if isinstance(message, dict) else None
    if isinstance(parts, list):
        for part in parts:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "tool_call" and isinstance(part.get("arguments"), str):
                parsed = json_or_text(part["arguments"])
                if isinstance(parsed, dict | list):
                    part["arguments"] = parsed
            elif part.get("type") == "tool_call_response" and "result" in part and "response" not in part:
                part["response"] = part.pop("result")
    return message


def tool_response_message(call_id: str, result: str) -> dict[str, Any]:
    """An execute_tool span's ``gen_ai.tool.call.result`` as the tool message that hands it to
    the model: stored by hash, it is the very row of the next call's input when the agent sends
    the model what the tool returned (its result is stored once, not once per copy)."""
    part: dict[str, Any] = {"type": sc.PART_TOOL_CALL_RESPONSE, "response": json_or_text(result)}
    if call_id:
        part["id"] = call_id
    return {"role": "tool", "parts": [part]}


def tool_response(message: Any) -> Any:
    """The result a ``tool_response_message`` holds (None when it holds none)."""
    for part in message.get("parts") or ():
        if isinstance(part, dict) and part.get("type") == sc.PART_TOOL_CALL_RESPONSE:
            return part.get("response")
    return None


def canonical_tool_definitions(definitions: Any) -> Any:
    """Tool definitions in the conventions' flat form. OpenAI's nested form (``{"type":
    "function", "function": {name, description, parameters}}``, which LangSmith sends as the
    request had it) becomes what trajotel's own instrumentation records for those tools."""
    if not isinstance(definitions, list):
        return definitions
    return [
        genai.tool_definitions([tool])[0]
        if isinstance(tool, dict) and isinstance(tool.get("function"), dict) and "name" not in tool
        else tool
        for tool in definitions
    ]


class CanonicalCache:
    """Source text -> (hash, canonical text), bounded by ``max_bytes`` of cached text."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._entries: dict[str, tuple[str, str]] = {}
        self._bytes = 0

    def canonical(self, source: str, value: Any) -> tuple[str, str]:
        found = self._entries.get(source)
        if found is None:
            text = dumps(canonical_message(value))
            found = (content_hash(text), text)
            self._bytes += len(source) + len(text)
            if self._bytes > self.max_bytes:  # simple and amortized: start over
                self._entries.clear()
                self._bytes = len(source) + len(text)
            self._entries[source] = found
        return found


_CACHE = CanonicalCache()
_HISTORY = HistoryCache()


class ContentSink:
    """Collects the bodies of one batch, keyed (tenant, hash)."""

    def __init__(
        self, batch: NormalizedBatch, cache: CanonicalCache = _CACHE, history: HistoryCache = _HISTORY
    ):
        self.batch = batch
        self.cache = cache
        self.history = history
        self.tenant = ""
        self.trace = ""

    def _keep(self, kind: str, digest: str, text: str) -> str:
        self.batch.contents.setdefault((self.tenant, digest), (kind, text))
        return digest

    def put(self, kind: str, value: Any) -> str:
        text = dumps(canonical_message(value) if kind == KIND_MESSAGE else value)
        return self._keep(kind, content_hash(text), text)

    def put_messages(self, value: AnyValue, *, is_input: bool) -> list[str]:
        if value.WhichOneof("value") != "string_value":
            messages = any_value_to_python(value)
            if not isinstance(messages, list):
                raise ValueError(f"must be an array of messages, got {type(messages).__name__}")
            return [self.put(KIND_MESSAGE, message) for message in messages]
        text = value.string_value
        known: list[tuple[str, str]] = []
        resume: int | None = None
        if is_input:
            previous = self.history.get(f"{self.tenant}/{self.trace}")
            if previous is not None and previous[0] and text.startswith(previous[0]):
                resume, known = len(previous[0]), previous[1]
        try:
            pairs, end = split_json_array(text, resume)
        except ValueError:
            if resume is None:
                raise
            # The cached prefix matched only textually (e.g. a number that continues): reparse.
            known, (pairs, end) = [], split_json_array(text)
        items = known + [self.cache.canonical(src, message) for src, message in pairs]
        if is_input:
            self.history.put(f"{self.tenant}/{self.trace}", text[:end], items)
        return [self._keep(KIND_MESSAGE, digest, canonical) for digest, canonical in items]


def extract_content(key: str, value: AnyValue, row: dict[str, Any], sink: ContentSink) -> None:
    """Move one content attribute into ``sink`` and its hash(es) into ``row``; ValueError if bad."""
    if key in MESSAGE_KEYS:
        column = "InputMessageHashes" if key == sc.GEN_AI_INPUT_MESSAGES else "OutputMessageHashes"
        row[column] = sink.put_messages(value, is_input=key == sc.GEN_AI_INPUT_MESSAGES)
        return
    # Content arrives as a JSON string (most SDKs today) or as a structured OTLP value.
    parsed = (
        json.loads(value.string_value)
        if value.WhichOneof("value") == "string_value"
        else (any_value_to_python(value))
    )
    if key == sc.GEN_AI_SYSTEM_INSTRUCTIONS:
        row["SystemInstructionsHash"] = sink.put(KIND_SYSTEM_INSTRUCTIONS, parsed)
    else:
        row["ToolDefinitionsHash"] = sink.put(KIND_TOOL_DEFINITIONS, canonical_tool_definitions(parsed))
