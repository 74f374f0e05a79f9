"""OpenLLMetry (traceloop): the flattened ``gen_ai.prompt.N.*`` / ``gen_ai.completion.N.*`` encoding
(releases before 0.5x, still common), ``llm.*`` extras and ``traceloop.*`` span kinds.

Current releases send GenAI 1.37 message JSON and are read by the GenAI tables; their remaining
own names are renamed here. Flattened messages are rebuilt as the OpenAI-style messages they
flatten and converted exactly as trajotel's own instrumentation converts those, so the same call
gives the same canonical messages whichever of the two recorded it.
"""

from __future__ import annotations

import json
from typing import Any

from trajotel import semconv as sc
from trajotel.instrument import genai
from trajotel.normalize.dialect import Dialect, Shaped
from trajotel.normalize.flattened import FlatReader, sub_items
from trajotel.normalize.values import json_or_text

SPAN_KIND = "traceloop.span.kind"
# llm.request.type -> gen_ai.operation.name
_REQUEST_TYPES = {"chat": "chat", "completion": "text_completion", "embedding": "embeddings"}


def _content(text: str | None) -> Any:
    """Message content: text, or (multimodal messages) a JSON list of OpenAI content items."""
    if text is not None and text.startswith("["):
        items = json_or_text(text)
        if isinstance(items, list) and all(isinstance(i, dict) and "type" in i for i in items):
            return items
    return text


def _message(item: dict[str, str]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": item.get("role"), "content": _content(item.get("content"))}
    calls = [
        {
            "id": c.get("id"),
            "type": "function",
            "function": {"name": c.get("name"), "arguments": c.get("arguments")},
        }
        for c in sub_items(item, "tool_calls")
    ]
    if calls:
        message["tool_calls"] = calls
    if "tool_call_id" in item:
        message["tool_call_id"] = item["tool_call_id"]
    return message


def _tool_definitions(functions: list[dict[str, str]]) -> list[dict[str, Any]]:
    tools = []
    for function in functions:
        spec: dict[str, Any] = {"name": function.get("name")}
        if "description" in function:
            spec["description"] = function["description"]
        if "parameters" in function:
            spec["parameters"] = json_or_text(function["parameters"])
        tools.append({"type": "function", "function": spec})
    return genai.tool_definitions(tools)


def _entity(attributes: dict[str, str], shaped: Shaped, kind: str) -> None:
    """traceloop SDK spans: a tool or agent entity, named by ``traceloop.entity.name``."""
    name = attributes.get("traceloop.entity.name")
    if kind == "tool":
        shaped.attributes[sc.GEN_AI_OPERATION_NAME] = "execute_tool"
        for source, target in (
            ("traceloop.entity.name", sc.GEN_AI_TOOL_NAME),
            ("traceloop.entity.input", sc.GEN_AI_TOOL_CALL_ARGUMENTS),
            ("traceloop.entity.output", sc.GEN_AI_TOOL_CALL_RESULT),
        ):
            if attributes.get(source) is not None:
                shaped.attributes[target] = attributes[source]
    elif kind == "agent":
        shaped.attributes[sc.GEN_AI_OPERATION_NAME] = "invoke_agent"
        if name:
            shaped.attributes[sc.GEN_AI_AGENT_NAME] = name


def shape(attributes: dict[str, str]) -> Shaped:
    flat = FlatReader(attributes)
    shaped = Shaped()
    kind = attributes.get(SPAN_KIND)
    if kind:
        _entity(attributes, shaped, kind)
    operation = _REQUEST_TYPES.get(attributes.get("llm.request.type", ""))
    if operation:
        shaped.attributes[sc.GEN_AI_OPERATION_NAME] = operation
    prompts = flat.items("gen_ai.prompt")
    if prompts:
        shaped.input_messages = genai.input_messages([_message(item) for item in prompts])
    completions = flat.items("gen_ai.completion")
    if completions:
        choices = [
            {"index": i, "finish_reason": item.get("finish_reason"), "message": _message(item)}
            for i, item in enumerate(completions)
        ]
        shaped.output_messages = genai.output_messages(choices)
        reasons = [item.get("finish_reason") or "error" for item in completions]
        shaped.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] = json.dumps(reasons)
    functions = flat.items("llm.request.functions")
    if functions:
        shaped.tool_definitions = _tool_definitions(functions)
    shaped.consumed |= flat.consumed
    return shaped


DIALECT = Dialect(
    name="openllmetry",
    markers=(SPAN_KIND, "llm.request.type"),
    marker_prefixes=("gen_ai.prompt.", "gen_ai.completion.", "llm.request.functions."),
    renames={
        "gen_ai.usage.cache_read_input_tokens": sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
        "gen_ai.usage.cache_creation_input_tokens": sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
        "llm.usage.reasoning_tokens": sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
        "gen_ai.usage.reasoning_tokens": sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
        "gen_ai.openai.system_fingerprint": sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT,
    },
    shape=shape,
)
