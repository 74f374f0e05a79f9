"""Chat completions (``chat.completions.create`` / ``parse`` / ``stream``): span ``chat {model}``.

A stream is assembled from its chunks by ``streams.ChatChunkAccumulator``: the output of each
choice (text, reasoning, tool calls joined from their deltas), finish reasons, response id and
model, usage when the server sent it (``stream_options.include_usage``).

Per-token output of the first choice, when the server sent it (``logprobs=True``; vLLM's
``return_token_ids``): ``trajotel.output.logprobs`` always, ``trajotel.output.tokens`` and
``trajotel.prompt.token_ids`` / ``trajotel.output.token_ids`` only when content is captured on
the span and no redaction hook is configured (a hook cannot rewrite them).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.trace import Span

from trajotel import semconv as sc
from trajotel.instrument import genai, streams
from trajotel.instrument.openai.wrappers import Api


def output_type(response_format: Any) -> str | None:
    """``gen_ai.output.type`` of a ``response_format`` (a pydantic class in ``parse()``)."""
    if inspect.isclass(response_format):
        return "json"
    kind = genai.field(response_format, "type")
    if kind in ("json_object", "json_schema"):
        return "json"
    return "text" if kind == "text" else None


def sampling_attributes(params: Mapping[str, Any]) -> dict[str, Any]:
    """The sampling parameters chat and legacy completions share (given values only)."""
    stop = params.get("stop")
    n = params.get("n")
    return {
        sc.GEN_AI_REQUEST_TEMPERATURE: genai.number(params.get("temperature")),
        sc.GEN_AI_REQUEST_TOP_P: genai.number(params.get("top_p")),
        sc.GEN_AI_REQUEST_FREQUENCY_PENALTY: genai.number(params.get("frequency_penalty")),
        sc.GEN_AI_REQUEST_PRESENCE_PENALTY: genai.number(params.get("presence_penalty")),
        sc.GEN_AI_REQUEST_SEED: genai.number(params.get("seed")),
        sc.GEN_AI_REQUEST_CHOICE_COUNT: n if genai.number(n) is not None and n != 1 else None,
        sc.GEN_AI_REQUEST_STOP_SEQUENCES: [stop] if isinstance(stop, str) else stop,
    }


def given(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in kwargs.items() if genai.is_given(value)}


# The parameters ``request_attributes`` reads: a call with none of them records none.
_REQUEST_PARAMS = frozenset(
    {
        "temperature",
        "top_p",
        "frequency_penalty",
        "presence_penalty",
        "seed",
        "n",
        "stop",
        "max_completion_tokens",
        "max_tokens",
        "response_format",
        "service_tier",
    }
)


def request_attributes(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Request-parameter attributes of a ``chat.completions.create`` call."""
    if _REQUEST_PARAMS.isdisjoint(kwargs):
        return {}
    params = given(kwargs)
    return {
        **sampling_attributes(params),
        # max_completion_tokens replaced max_tokens in the API; either is the cap we want.
        sc.GEN_AI_REQUEST_MAX_TOKENS: genai.number(
            params.get("max_completion_tokens", params.get("max_tokens"))
        ),
        sc.GEN_AI_OUTPUT_TYPE: output_type(params.get("response_format")),
        sc.OPENAI_REQUEST_SERVICE_TIER: params.get("service_tier"),
    }


class ChatApi(Api):
    operation = sc.OP_CHAT
    iterable_params = ("messages", "tools")

    def request_attributes(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        return {**request_attributes(kwargs), sc.OPENAI_API_TYPE: "chat_completions"}

    def input_content(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        content: dict[str, Any] = {"input_messages": genai.cached_input_messages(kwargs.get("messages"))}
        if genai.is_given(kwargs.get("tools")):
            content["tool_definitions"] = genai.cached_tool_definitions(kwargs.get("tools"))
        return content

    def response_attributes(self, response: Any) -> dict[str, Any]:
        fields = genai.fields_of(response)
        return {
            sc.GEN_AI_RESPONSE_ID: fields.get("id"),
            sc.GEN_AI_RESPONSE_MODEL: fields.get("model"),
            sc.GEN_AI_RESPONSE_FINISH_REASONS: genai.finish_reasons(fields.get("choices")),
            sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT: fields.get("system_fingerprint"),
            sc.OPENAI_RESPONSE_SERVICE_TIER: fields.get("service_tier"),
            **genai.usage_attributes(fields.get("usage")),
        }

    def output_content(self, response: Any) -> dict[str, Any] | None:
        choices = genai.field(response, "choices")
        if not choices:  # a stream cut before its first choice has nothing to show
            return None
        return {"output_messages": genai.output_messages(choices)}

    def record_extras(self, span: Span, response: Any, capture: genai.ContentCapture) -> None:
        genai.set_attributes(span, token_attributes(response, capture))

    def accumulator(
        self, on_finish: Callable[[Span, Any], None], keep_content: bool
    ) -> streams.ChunkAccumulator:
        return streams.ChatChunkAccumulator(on_finish, keep_content=keep_content)


API = ChatApi()


def _int_list(value: Any) -> list[int] | None:
    if isinstance(value, (list, tuple)) and all(
        genai.number(v) is not None and isinstance(v, int) for v in value
    ):
        return list(value)
    return None


def _first_choice(choices: Any) -> Mapping[str, Any]:
    if not choices:
        return genai.fields_of(None)
    if len(choices) == 1:
        return genai.fields_of(choices[0])

    def index(choice: Any) -> int:
        value = genai.field(choice, "index", 0)
        return value if isinstance(value, int) else 0

    return genai.fields_of(min(choices, key=index))


def token_attributes(response: Any, capture: genai.ContentCapture) -> dict[str, str]:
    """Per-token output (logprobs, tokens, token ids) of the first choice, when the server sent it.

    Logprobs carry no content and are always recorded. Token strings and ids are the content
    itself: they follow the capture mode, and a redaction hook cannot rewrite them, so they are
    not recorded while one is configured.
    """
    fields = genai.fields_of(response)
    first = _first_choice(fields.get("choices"))
    entries = genai.fields_of(first.get("logprobs")).get("content")
    prompt_ids = fields.get("prompt_token_ids")  # vLLM ``return_token_ids`` (an extra field)
    output_ids = first.get("token_ids")
    if not entries and prompt_ids is None and output_ids is None:
        return {}  # the common case: the server sent no per-token output
    attributes: dict[str, str] = {}
    if isinstance(entries, (list, tuple)) and entries:
        logprobs = [genai.field(entry, "logprob") for entry in entries]
        if all(genai.number(v) is not None for v in logprobs):
            attributes[sc.TRAJOTEL_OUTPUT_LOGPROBS] = genai.to_json(logprobs)
    if capture.on_span and not genai.redaction_configured():
        if isinstance(entries, (list, tuple)) and entries:
            tokens = [genai.field(entry, "token") for entry in entries]
            if all(isinstance(t, str) for t in tokens):
                attributes[sc.TRAJOTEL_OUTPUT_TOKENS] = genai.to_json(tokens)
        prompt_ids = _int_list(prompt_ids)
        if prompt_ids:
            attributes[sc.TRAJOTEL_PROMPT_TOKEN_IDS] = genai.to_json(prompt_ids)
        output_ids = _int_list(output_ids)
        if output_ids:
            attributes[sc.TRAJOTEL_OUTPUT_TOKEN_IDS] = genai.to_json(output_ids)
    return attributes
