"""Legacy text completions (``completions.create``): span ``text_completion {model}``.

The prompt (a string or a list of strings; token-id prompts are not text and are skipped) is
recorded as user input messages, each choice's text as an assistant output message. A stream is
assembled by the chat accumulator, each legacy chunk read as a chat chunk whose delta is its
text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.trace import Span

from trajotel import semconv as sc
from trajotel.instrument import genai, streams
from trajotel.instrument.openai.chat import given, sampling_attributes
from trajotel.instrument.openai.wrappers import Api


def _prompts(prompt: Any) -> list[str]:
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, (list, tuple)):
        return [item for item in prompt if isinstance(item, str)]
    return []


def _text(choice: Any) -> str:
    text = genai.field(choice, "text")
    if text is None:  # an assembled stream: its text is in the chat-shaped message
        text = genai.field(genai.field(choice, "message"), "content")
    return text if isinstance(text, str) else ""


class TextCompletionsApi(Api):
    operation = sc.OP_TEXT_COMPLETION
    iterable_params = ("prompt",)

    def request_attributes(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        params = given(kwargs)
        return {
            **sampling_attributes(params),
            sc.GEN_AI_REQUEST_MAX_TOKENS: genai.number(params.get("max_tokens")),
        }

    def input_content(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        messages = [
            {"role": "user", "parts": [{"type": sc.PART_TEXT, "content": prompt}]}
            for prompt in _prompts(kwargs.get("prompt"))
        ]
        return {"input_messages": messages}

    def response_attributes(self, response: Any) -> dict[str, Any]:
        return {
            sc.GEN_AI_RESPONSE_ID: genai.field(response, "id"),
            sc.GEN_AI_RESPONSE_MODEL: genai.field(response, "model"),
            sc.GEN_AI_RESPONSE_FINISH_REASONS: genai.finish_reasons(genai.field(response, "choices")),
            sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT: genai.field(response, "system_fingerprint"),
            **genai.usage_attributes(genai.field(response, "usage")),
        }

    def output_content(self, response: Any) -> dict[str, Any] | None:
        choices = sorted(genai.field(response, "choices") or (), key=lambda c: genai.field(c, "index", 0))
        if not choices:
            return None
        messages = [
            {
                "role": "assistant",
                "parts": [{"type": sc.PART_TEXT, "content": _text(choice)}] if _text(choice) else [],
                "finish_reason": genai.map_finish_reason(genai.field(choice, "finish_reason")),
            }
            for choice in choices
        ]
        return {"output_messages": messages}

    def accumulator(
        self, on_finish: Callable[[Span, Any], None], keep_content: bool
    ) -> streams.ChunkAccumulator:
        return _TextChunkAccumulator(on_finish, keep_content=keep_content)


API = TextCompletionsApi()


class _TextChunkAccumulator(streams.ChatChunkAccumulator):
    """The chat accumulator fed legacy ``text_completion`` chunks, read as chat chunks."""

    def add(self, chunk: Any) -> None:
        choices = [
            {
                "index": genai.field(choice, "index", 0),
                "delta": {"content": genai.field(choice, "text")},
                "finish_reason": genai.field(choice, "finish_reason"),
            }
            for choice in genai.field(chunk, "choices") or ()
        ]
        as_chat = {key: genai.field(chunk, key) for key in ("id", "model", "system_fingerprint", "usage")}
        super().add({**as_chat, "choices": choices})
