"""The Responses API (``responses.create`` / ``parse`` / ``stream``): span ``chat {model}``.

The conventions name Responses API calls ``chat`` (``openai.api.type`` tells them apart from
chat completions). Content in the parts model:

* ``instructions`` → ``gen_ai.system_instructions``; ``input`` (a string, or items) →
  ``gen_ai.input.messages``: messages keep their role; consecutive model items (``reasoning``,
  assistant ``message``, ``function_call``) form one assistant message with ``reasoning``,
  ``text`` and ``tool_call`` parts; each ``function_call_output`` is a ``tool`` message with a
  ``tool_call_response`` part. Tool-call ids are the ``call_id`` that links a call to its output.
* ``output`` items → one assistant output message (reasoning summaries, text, tool calls).
* Finish reason: ``completed`` → ``stop`` (``tool_call`` when the output calls a tool),
  ``incomplete`` → ``length`` (``content_filter`` when that was the reason), ``failed`` /
  ``cancelled`` → ``error``.

A stream (``stream=True`` or ``responses.stream``) is assembled by ``ResponseEventAccumulator``
from its typed events: the final ``response.completed`` / ``incomplete`` / ``failed`` event
carries the whole response; a stream cut short is rebuilt from the items seen so far.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.trace import Span

from trajotel import semconv as sc
from trajotel.instrument import genai, streams
from trajotel.instrument.openai.chat import given
from trajotel.instrument.openai.wrappers import Api

# Items the model produced; consecutive ones form one assistant message.
_MODEL_ITEMS = frozenset({"reasoning", "function_call", "custom_tool_call"})
_TOOL_OUTPUT_ITEMS = frozenset({"function_call_output", "custom_tool_call_output"})
_INCOMPLETE_REASONS = {"max_output_tokens": "length", "content_filter": "content_filter"}
# Events whose ``response`` is a snapshot of the whole response (the last one is complete).
_SNAPSHOT_EVENTS = frozenset(
    {
        "response.created",
        "response.in_progress",
        "response.completed",
        "response.incomplete",
        "response.failed",
    }
)


def _text_part(text: Any) -> dict[str, Any]:
    return {"type": sc.PART_TEXT, "content": text if isinstance(text, str) else str(text)}


def _content_part(item: Any) -> dict[str, Any] | None:
    """One Responses content item (input_text, output_text, input_image...) as a GenAI part."""
    kind = genai.field(item, "type")
    if isinstance(item, str):
        return _text_part(item)
    if kind in ("input_text", "output_text", "text"):
        text = genai.field(item, "text", "")
        return _text_part(text) if text else None
    if kind == "refusal":
        return _text_part(genai.field(item, "refusal", ""))
    if kind == "input_image":
        url = genai.field(item, "image_url")
        if url:
            return {"type": sc.PART_URI, "modality": "image", "uri": url}
        return {"type": sc.PART_FILE, "modality": "image", "file_id": genai.field(item, "file_id")}
    if kind == "input_file":
        return _file_part(item)
    # Anything else travels as a generic part (genai's fallback): keep it rather than guess.
    parts = genai.content_parts([item])
    return parts[0] if parts else None


def _file_part(item: Any) -> dict[str, Any]:
    if genai.field(item, "file_id"):
        return {"type": sc.PART_FILE, "modality": "document", "file_id": genai.field(item, "file_id")}
    if genai.field(item, "file_url"):
        return {"type": sc.PART_URI, "modality": "document", "uri": genai.field(item, "file_url")}
    data = str(genai.field(item, "file_data", ""))
    mime_type = data[5:].split(";", 1)[0] if data.startswith("data:") else None
    part = {"type": sc.PART_BLOB, "modality": "document", "content": data.split(",", 1)[-1]}
    if mime_type:
        part["mime_type"] = mime_type
    return part


def content_parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [_text_part(content)] if content else []
    parts = [_content_part(item) for item in content or ()]
    return [part for part in parts if part is not None]


def _reasoning_parts(item: Any) -> list[dict[str, Any]]:
    # The summary is what the API shows; raw reasoning text only comes from some models.
    texts = [genai.field(s, "text") for s in genai.field(item, "summary") or ()]
    texts += [genai.field(c, "text") for c in genai.field(item, "content") or ()]
    return [{"type": sc.PART_REASONING, "content": t} for t in texts if isinstance(t, str) and t]


def _tool_call_part(item: Any) -> dict[str, Any]:
    custom = genai.field(item, "type") == "custom_tool_call"
    arguments = genai.field(item, "input") if custom else genai.field(item, "arguments")
    return {
        "type": sc.PART_TOOL_CALL,
        "id": genai.field(item, "call_id"),
        "name": genai.field(item, "name"),
        "arguments": genai.parse_arguments(arguments),
    }


def _model_parts(item: Any) -> list[dict[str, Any]]:
    """The parts of one model-produced item (reasoning, assistant message, tool call...)."""
    kind = genai.field(item, "type")
    if kind == "reasoning":
        return _reasoning_parts(item)
    if kind in ("function_call", "custom_tool_call"):
        return [_tool_call_part(item)]
    if kind == "message" or genai.field(item, "role") is not None:
        return content_parts(genai.field(item, "content"))
    # Server-side tools (web_search_call, ...) and newer item types, kept whole.
    generic = genai.safe_call(_plain, item)
    return [generic] if isinstance(generic, dict) else []


def _plain(item: Any) -> Any:
    return json.loads(genai.to_json(item))


def _tool_output_message(item: Any) -> dict[str, Any]:
    output = genai.field(item, "output")
    if not isinstance(output, str):
        output = "".join(str(genai.field(part, "text", "")) for part in output or ())
    response = {"type": sc.PART_TOOL_CALL_RESPONSE, "id": genai.field(item, "call_id"), "response": output}
    return {"role": "tool", "parts": [response]}


def input_messages(value: Any) -> list[dict[str, Any]]:
    """``input`` (a string or a list of items) as GenAI input messages."""
    if isinstance(value, str):
        return [{"role": "user", "parts": [_text_part(value)]}]
    messages: list[dict[str, Any]] = []
    assistant: dict[str, Any] | None = None  # the open assistant message, grown by model items
    for item in value or ():
        kind = genai.field(item, "type")
        role = genai.field(item, "role")
        if kind in _TOOL_OUTPUT_ITEMS:
            messages.append(_tool_output_message(item))
            assistant = None
        elif kind in _MODEL_ITEMS or role == "assistant" or (role is None and kind != "message"):
            if assistant is None:
                assistant = {"role": "assistant", "parts": []}
                messages.append(assistant)
            assistant["parts"].extend(_model_parts(item))
        else:
            messages.append({"role": role, "parts": content_parts(genai.field(item, "content"))})
            assistant = None
    return messages


def output_parts(output: Any) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for item in output or ():
        parts.extend(_model_parts(item))
    return parts


def finish_reason(response: Any) -> str:
    """The GenAI finish reason of a response, from its status and output."""
    status = genai.field(response, "status")
    if status == "completed":
        kinds = {genai.field(item, "type") for item in genai.field(response, "output") or ()}
        return "tool_call" if kinds & {"function_call", "custom_tool_call"} else "stop"
    if status == "incomplete":
        reason = genai.field(genai.field(response, "incomplete_details"), "reason")
        return _INCOMPLETE_REASONS.get(reason, "length")
    return "error"  # failed, cancelled, or a stream cut short


def tool_definitions(tools: Any) -> list[dict[str, Any]]:
    """Responses tools (flat: ``{type, name, description, parameters}``) as tool definitions."""
    definitions = []
    for tool in tools or ():
        kind = genai.field(tool, "type", "function")
        definition: dict[str, Any] = {"type": kind, "name": genai.field(tool, "name", kind)}
        for key in ("description", "parameters"):
            if genai.field(tool, key) is not None:
                definition[key] = genai.field(tool, key)
        definitions.append(definition)
    return definitions


def _output_type(params: Mapping[str, Any]) -> str | None:
    if inspect.isclass(params.get("text_format")):
        return "json"
    kind = genai.field(genai.field(params.get("text"), "format"), "type")
    if kind in ("json_schema", "json_object"):
        return "json"
    return "text" if kind == "text" else None


def _conversation_id(conversation: Any) -> Any:
    return conversation if isinstance(conversation, str) else genai.field(conversation, "id")


class ResponsesApi(Api):
    operation = sc.OP_CHAT
    iterable_params = ("input", "tools", "include")

    def request_attributes(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        params = given(kwargs)
        return {
            sc.OPENAI_API_TYPE: "responses",
            sc.GEN_AI_REQUEST_MAX_TOKENS: genai.number(params.get("max_output_tokens")),
            sc.GEN_AI_REQUEST_TEMPERATURE: genai.number(params.get("temperature")),
            sc.GEN_AI_REQUEST_TOP_P: genai.number(params.get("top_p")),
            sc.GEN_AI_OUTPUT_TYPE: _output_type(params),
            sc.OPENAI_REQUEST_SERVICE_TIER: params.get("service_tier"),
            sc.GEN_AI_REQUEST_PREVIOUS_RESPONSE_ID: params.get("previous_response_id"),
            sc.GEN_AI_CONVERSATION_ID: _conversation_id(params.get("conversation")),
        }

    def input_content(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        content: dict[str, Any] = {"input_messages": input_messages(kwargs.get("input"))}
        instructions = kwargs.get("instructions")
        if isinstance(instructions, str) and instructions:
            content["system_instructions"] = [_text_part(instructions)]
        if genai.is_given(kwargs.get("tools")):
            content["tool_definitions"] = tool_definitions(kwargs.get("tools"))
        return content

    def response_attributes(self, response: Any) -> dict[str, Any]:
        return {
            sc.GEN_AI_RESPONSE_ID: genai.field(response, "id"),
            sc.GEN_AI_RESPONSE_MODEL: genai.field(response, "model"),
            sc.GEN_AI_RESPONSE_FINISH_REASONS: [finish_reason(response)],
            sc.OPENAI_RESPONSE_SERVICE_TIER: genai.field(response, "service_tier"),
            **genai.usage_attributes(genai.field(response, "usage")),
        }

    def output_content(self, response: Any) -> dict[str, Any]:
        message = {
            "role": "assistant",
            "parts": output_parts(genai.field(response, "output")),
            "finish_reason": finish_reason(response),
        }
        return {"output_messages": [message]}

    def accumulator(
        self, on_finish: Callable[[Span, Any], None], keep_content: bool
    ) -> streams.ChunkAccumulator:
        return ResponseEventAccumulator(on_finish, keep_content=keep_content)


API = ResponsesApi()


class _Item:
    """An output item being streamed: what its deltas said so far."""

    def __init__(self, item: Any) -> None:
        self.kind = genai.field(item, "type")
        self.call_id = genai.field(item, "call_id")
        self.name = genai.field(item, "name")
        self.pieces: list[str] = []
        self.done: Any = None  # the complete item, once ``output_item.done`` arrived

    def as_item(self) -> Any:
        if self.done is not None:
            return self.done
        text = "".join(self.pieces)
        if self.kind in ("function_call", "custom_tool_call"):
            key = "input" if self.kind == "custom_tool_call" else "arguments"
            return {"type": self.kind, "call_id": self.call_id, "name": self.name, key: text}
        if self.kind == "reasoning":
            return {"type": "reasoning", "summary": [{"type": "summary_text", "text": text}]}
        return {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]}


# Delta events that carry a piece of an item's content.
_DELTA_EVENTS = frozenset(
    {
        "response.output_text.delta",
        "response.refusal.delta",
        "response.function_call_arguments.delta",
        "response.custom_tool_call_input.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_text.delta",
    }
)


class ResponseEventAccumulator:
    """Assembles Responses stream events (typed objects or dicts) into a response.

    ``keep_content=False`` skips the deltas: the span then records no content, and the final
    event's response carries the ids, status and usage it needs.
    """

    def __init__(self, on_finish: Callable[[Span, Any], None], keep_content: bool = True) -> None:
        self._on_finish = on_finish
        self._keep_content = keep_content
        self._snapshot: Any = None  # the latest whole response an event carried
        self._items: dict[int, _Item] = {}

    def add(self, event: Any) -> None:
        kind = genai.field(event, "type")
        if kind in _SNAPSHOT_EVENTS:
            self._snapshot = genai.field(event, "response")
            return
        index = genai.field(event, "output_index")
        if not isinstance(index, int):
            return
        if kind == "response.output_item.added":
            self._items[index] = _Item(genai.field(event, "item"))
        elif kind == "response.output_item.done":
            item = self._items.setdefault(index, _Item(genai.field(event, "item")))
            item.done = genai.field(event, "item")
        elif kind in _DELTA_EVENTS and self._keep_content and index in self._items:
            delta = genai.field(event, "delta")
            if isinstance(delta, str):
                self._items[index].pieces.append(delta)

    def response(self) -> dict[str, Any]:
        """The response so far; a stream cut short has no usage and status ``in_progress``."""
        snapshot = self._snapshot
        result = {
            key: genai.field(snapshot, key)
            for key in ("id", "model", "status", "incomplete_details", "service_tier", "usage")
        }
        output = genai.field(snapshot, "output")
        if not output and self._items:  # only the final snapshot lists the output
            output = [item.as_item() for _, item in sorted(self._items.items())]
        result["output"] = output or []
        return {key: value for key, value in result.items() if value is not None}

    def finish(self, span: Span) -> None:
        self._on_finish(span, self.response())
