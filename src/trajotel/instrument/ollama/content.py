"""Ollama chat values as GenAI attributes: messages → parts, done reasons, usage, streamed chunks.

Ollama's messages are the OpenAI chat shape with other names (``thinking`` for reasoning,
``images`` as base64 strings, tool calls without ids, ``tool_name`` on tool results), so each is
renamed into the OpenAI shape and read by the shared ``genai`` converters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.trace import Span

from trajotel import semconv as sc
from trajotel.instrument import genai


def _as_openai(message: Any) -> dict[str, Any]:
    calls = [{"type": "function", "function": genai.field(call, "function")} for call in _list(message)]
    return {
        "role": genai.field(message, "role"),
        "content": genai.field(message, "content"),
        "reasoning_content": genai.field(message, "thinking"),
        "tool_calls": calls or None,
        "name": genai.field(message, "tool_name"),
    }


def _list(message: Any) -> list[Any]:
    calls = genai.field(message, "tool_calls")
    return list(calls) if isinstance(calls, (list, tuple)) else []


def _image_parts(message: Any) -> list[dict[str, Any]]:
    images = genai.field(message, "images") or ()
    # The SDK sends base64 text; Image objects hold it in ``value``.
    values = [genai.field(image, "value", image) for image in images]
    return [{"type": sc.PART_BLOB, "modality": "image", "content": v} for v in values if isinstance(v, str)]


def input_messages(messages: Any) -> list[dict[str, Any]]:
    result = []
    for message in messages or ():
        converted = genai.input_message(_as_openai(message))
        converted["parts"].extend(_image_parts(message))
        result.append(converted)
    return result


def tool_definitions(tools: Any) -> list[dict[str, Any]]:
    """Tools given as dicts or ``Tool`` objects (callables are the SDK's to convert: skipped)."""
    return genai.tool_definitions([tool for tool in tools or () if not callable(tool)])


def finish_reason(response: Any) -> str:
    """The output message's finish reason: Ollama says "stop" after tool calls too."""
    if _list(genai.field(response, "message")):
        return "tool_call"
    return genai.map_finish_reason(genai.field(response, "done_reason"))


def output_messages(response: Any) -> list[dict[str, Any]]:
    message = genai.input_message(_as_openai(genai.field(response, "message")))
    return [{"role": "assistant", "parts": message["parts"], "finish_reason": finish_reason(response)}]


def response_attributes(response: Any) -> dict[str, Any]:
    done_reason = genai.field(response, "done_reason")
    return {
        sc.GEN_AI_RESPONSE_MODEL: genai.field(response, "model"),
        sc.GEN_AI_RESPONSE_FINISH_REASONS: [done_reason] if isinstance(done_reason, str) else None,
        sc.GEN_AI_USAGE_INPUT_TOKENS: genai.number(genai.field(response, "prompt_eval_count")),
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: genai.number(genai.field(response, "eval_count")),
    }


def request_attributes(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Sampling options (``options={...}`` or an ``Options`` object) as request attributes."""
    options = kwargs.get("options")
    stop = genai.field(options, "stop")
    return {
        sc.GEN_AI_REQUEST_MAX_TOKENS: genai.number(genai.field(options, "num_predict")),
        sc.GEN_AI_REQUEST_TEMPERATURE: genai.number(genai.field(options, "temperature")),
        sc.GEN_AI_REQUEST_TOP_P: genai.number(genai.field(options, "top_p")),
        sc.GEN_AI_REQUEST_SEED: genai.number(genai.field(options, "seed")),
        sc.GEN_AI_REQUEST_FREQUENCY_PENALTY: genai.number(genai.field(options, "frequency_penalty")),
        sc.GEN_AI_REQUEST_PRESENCE_PENALTY: genai.number(genai.field(options, "presence_penalty")),
        sc.GEN_AI_REQUEST_STOP_SEQUENCES: list(stop) if isinstance(stop, (list, tuple)) else None,
    }


class ChatChunkAccumulator:
    """Assembles streamed ``ChatResponse`` chunks into one final response dict.

    Text and thinking come in pieces, tool calls whole, and the last chunk (``done``) carries
    the done reason and the counts. ``keep_content=False`` keeps only what has no content.
    """

    def __init__(self, on_finish: Callable[[Span, dict[str, Any]], None], keep_content: bool = True) -> None:
        self._on_finish = on_finish
        self._keep_content = keep_content
        self._response: dict[str, Any] = {}
        self._content: list[str] = []
        self._thinking: list[str] = []
        self._tool_calls: list[Any] = []

    def add(self, chunk: Any) -> None:
        for key in ("model", "done_reason", "prompt_eval_count", "eval_count"):
            value = genai.field(chunk, key)
            if value is not None:
                self._response[key] = value
        message = genai.field(chunk, "message")
        self._tool_calls.extend(_list(message))  # kept in every mode: they set the finish reason
        if self._keep_content:
            for name, pieces in (("content", self._content), ("thinking", self._thinking)):
                value = genai.field(message, name)
                if isinstance(value, str) and value:
                    pieces.append(value)

    def response(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self._content)}
        if self._thinking:
            message["thinking"] = "".join(self._thinking)
        if self._tool_calls:
            message["tool_calls"] = self._tool_calls
        return {**self._response, "message": message}

    def finish(self, span: Span) -> None:
        self._on_finish(span, self.response())
