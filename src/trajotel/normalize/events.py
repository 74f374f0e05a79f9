"""GenAI content sent as log events instead of span attributes.

Two shapes reach the collector as log records tied to their span by trace and span id:

* GenAI conventions up to 1.36 (still the default of the official ``openai-v2`` and ``vertexai``
  instrumentations): one event per message, ``gen_ai.{system,user,assistant,tool}.message``
  with body ``{content, role?, tool_calls?, id?}`` and ``gen_ai.choice`` with body
  ``{index, finish_reason, message, tool_calls?}``.
* 1.37 and later: the opt-in ``gen_ai.client.inference.operation.details`` event, whose
  attributes carry the call's content like a span's (structured values).

Each message becomes canonical GenAI content in the content-addressed store, and the log row
keeps only its hash(es) in the same columns spans use; the assembler appends them, in event
order, to a span that carries no content of its own.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from trajotel import semconv as sc
from trajotel.instrument import genai
from trajotel.normalize.content import ContentSink, extract_content
from trajotel.normalize.records import KIND_MESSAGE

# Per-message events (<= 1.36): event name -> the role of the input message it carries.
_MESSAGE_EVENT_ROLES = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
CHOICE_EVENT = "gen_ai.choice"
# What the conversion reads; a body with anything else is also kept verbatim (never lose data).
_MESSAGE_KEYS = frozenset({"role", "content", "tool_calls", "id"})
_CHOICE_KEYS = frozenset({"index", "finish_reason", "message", "tool_calls"})
CONTENT_EVENTS = frozenset({*_MESSAGE_EVENT_ROLES, CHOICE_EVENT, sc.EVENT_GEN_AI_OPERATION_DETAILS})


def _input_message(role: str, body: dict[str, Any]) -> dict[str, Any]:
    """A legacy message event body as a canonical input message, converted exactly as
    trajotel's own instrumentation converts the same OpenAI-style message."""
    message = {"role": body.get("role") or role, "content": body.get("content")}
    if body.get("tool_calls"):
        message["tool_calls"] = body["tool_calls"]
    if role == "tool":
        message["tool_call_id"] = body.get("id")
    return genai.input_message(message)


def _choice_message(body: dict[str, Any]) -> dict[str, Any]:
    message = dict(body.get("message") or {})
    if body.get("tool_calls") and not message.get("tool_calls"):  # some versions put them beside
        message["tool_calls"] = body["tool_calls"]
    (output,) = genai.output_messages([{**body, "message": message}])
    return output


def event_message(event_name: str, body: dict[str, Any]) -> tuple[bool, dict[str, Any]] | None:
    """A legacy content event (name and body) as (is an output message, canonical message);
    None for other events. Also used for dialects that carry such events in an attribute."""
    if event_name == CHOICE_EVENT:
        return True, _choice_message(body)
    role = _MESSAGE_EVENT_ROLES.get(event_name)
    return None if role is None else (False, _input_message(role, body))


def extract_event_content(
    record: LogRecord, event_name: str, body: Any, row: dict[str, Any], sink: ContentSink
) -> bool:
    """Move a GenAI content event's messages into ``sink`` and their hashes into ``row``
    (InputMessageHashes, OutputMessageHashes, SystemInstructionsHash, ToolDefinitionsHash).
    Returns True when the content came from the body (which then need not be kept), False when
    it came from content attributes or the event has none; raises ValueError for a content
    event it cannot read."""
    if event_name == sc.EVENT_GEN_AI_OPERATION_DETAILS:
        for kv in record.attributes:
            if kv.key in sc.CONTENT_ATTRIBUTES:
                extract_content(kv.key, kv.value, row, sink)
        return False
    if event_name not in _MESSAGE_EVENT_ROLES and event_name != CHOICE_EVENT:
        return False
    if not isinstance(body, dict):
        raise ValueError(f"body must be a map, got {type(body).__name__}")
    is_output, message = event_message(event_name, body)  # type: ignore[misc]
    row["OutputMessageHashes" if is_output else "InputMessageHashes"] = [sink.put(KIND_MESSAGE, message)]
    if is_output:
        inner = body.get("message")
        return body.keys() <= _CHOICE_KEYS and (not isinstance(inner, dict) or inner.keys() <= _MESSAGE_KEYS)
    return body.keys() <= _MESSAGE_KEYS
