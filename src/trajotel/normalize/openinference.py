"""OpenInference (Arize): ``llm.input_messages.N.*`` / ``llm.output_messages.N.*``, ``llm.tools``,
``openinference.span.kind``.

Messages are rebuilt as the OpenAI-style messages they flatten, then converted exactly as
trajotel's own instrumentation converts OpenAI messages, so the same call gives the same
canonical messages (and content hashes) whichever of the two recorded it. On LLM spans,
``input.value`` / ``output.value`` (the whole request and response as JSON, history included) are
read for what the flattened keys lack (response id, finish reasons) and not kept.
"""

from __future__ import annotations

import json
from typing import Any

from trajotel import semconv as sc
from trajotel.instrument import genai
from trajotel.normalize.dialect import Dialect, Shaped
from trajotel.normalize.flattened import FlatReader, json_object, sub_items
from trajotel.normalize.values import json_or_text

SPAN_KIND = "openinference.span.kind"
# openinference.span.kind -> gen_ai.operation.name (CHAIN, RETRIEVER, ... have no GenAI operation).
_OPERATIONS = {"LLM": "chat", "EMBEDDING": "embeddings", "TOOL": "execute_tool", "AGENT": "invoke_agent"}


def _content(item: dict[str, str]) -> Any:
    """``message.content`` text, or ``message.contents.K.message_content.*`` as content items."""
    items = []
    for part in sub_items(item, "message.contents"):
        kind = part.get("message_content.type")
        if kind == "text":
            items.append({"type": "text", "text": part.get("message_content.text", "")})
        elif kind == "image":
            items.append(
                {"type": "image_url", "image_url": {"url": part.get("message_content.image.image.url")}}
            )
    return items or item.get("message.content")


def _message(item: dict[str, str]) -> dict[str, Any]:
    """One flattened message as the OpenAI chat message it came from."""
    message: dict[str, Any] = {"role": item.get("message.role"), "content": _content(item)}
    calls = [
        {
            "id": call.get("tool_call.id"),
            "type": "function",
            "function": {
                "name": call.get("tool_call.function.name"),
                "arguments": call.get("tool_call.function.arguments"),
            },
        }
        for call in sub_items(item, "message.tool_calls")
    ]
    if calls:
        message["tool_calls"] = calls
    for key, field in (("message.tool_call_id", "tool_call_id"), ("message.name", "name")):
        if key in item:
            message[field] = item[key]
    return message


def _response(flat: FlatReader) -> dict[str, Any]:
    """The response JSON in ``output.value`` when it is one (it is not for streams cut short)."""
    if flat.attributes.get("output.mime_type") != "application/json":
        return {}
    try:
        return json_object(flat.attributes.get("output.value"), "output.value")
    except ValueError:
        return {}


def _finish_reasons(flat: FlatReader, response: dict[str, Any], count: int) -> list[str | None]:
    choices = sorted(
        response.get("choices") or [], key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0
    )
    reasons = [c.get("finish_reason") for c in choices if isinstance(c, dict)]
    if not reasons and flat.attributes.get("llm.finish_reason"):
        reasons = [flat.take("llm.finish_reason")]
    return (reasons + [None] * count)[:count]


def _llm_content(flat: FlatReader, shaped: Shaped) -> None:
    inputs = flat.items("llm.input_messages")
    outputs = flat.items("llm.output_messages")
    if inputs:
        shaped.input_messages = genai.input_messages([_message(item) for item in inputs])
    response = _response(flat)
    if outputs:
        reasons = _finish_reasons(flat, response, len(outputs))
        choices = [
            {"index": i, "finish_reason": reason, "message": _message(item)}
            for i, (item, reason) in enumerate(zip(outputs, reasons, strict=True))
        ]
        shaped.output_messages = genai.output_messages(choices)
        shaped.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] = json.dumps([r or "error" for r in reasons])
    tools = flat.items("llm.tools")
    if tools:
        shaped.tool_definitions = genai.tool_definitions(
            [json_object(tool.get("tool.json_schema"), "llm.tools.N.tool.json_schema") for tool in tools]
        )
    if response.get("id"):
        shaped.attributes[sc.GEN_AI_RESPONSE_ID] = str(response["id"])
    if inputs or outputs:  # the request and response JSON only repeat what is now stored
        shaped.consumed.update(k for k in ("input.value", "output.value") if k in flat.attributes)


def _tool_call(flat: FlatReader, shaped: Shaped) -> None:
    """A TOOL span: its name, arguments (input.value) and result (output.value)."""
    for source, target in (
        ("tool.name", sc.GEN_AI_TOOL_NAME),
        ("tool.description", "gen_ai.tool.description"),
        ("input.value", sc.GEN_AI_TOOL_CALL_ARGUMENTS),
        ("output.value", sc.GEN_AI_TOOL_CALL_RESULT),
    ):
        value = flat.attributes.get(source)
        if value is not None:
            shaped.attributes[target] = value


def shape(attributes: dict[str, str]) -> Shaped:
    flat = FlatReader(attributes)
    shaped = Shaped()
    kind = attributes.get(SPAN_KIND, "")
    operation = _OPERATIONS.get(kind.upper())
    if operation:
        shaped.attributes[sc.GEN_AI_OPERATION_NAME] = operation
    provider = attributes.get("llm.provider") or attributes.get("llm.system")
    if provider:
        shaped.attributes[sc.GEN_AI_PROVIDER_NAME] = provider
    model = attributes.get("llm.model_name")
    if model:
        shaped.attributes[sc.GEN_AI_RESPONSE_MODEL] = model
        invocation = json_or_text(attributes.get("llm.invocation_parameters"))
        requested = invocation.get("model") if isinstance(invocation, dict) else None
        shaped.attributes[sc.GEN_AI_REQUEST_MODEL] = str(requested or model)
    if operation == "execute_tool":
        _tool_call(flat, shaped)
    else:
        _llm_content(flat, shaped)
    shaped.consumed |= flat.consumed
    return shaped


DIALECT = Dialect(
    name="openinference",
    markers=(SPAN_KIND,),
    marker_prefixes=("llm.input_messages.", "llm.output_messages."),
    renames={
        "llm.token_count.prompt": sc.GEN_AI_USAGE_INPUT_TOKENS,
        "llm.token_count.completion": sc.GEN_AI_USAGE_OUTPUT_TOKENS,
        "llm.token_count.prompt_details.cache_read": sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
        "llm.token_count.prompt_details.cache_write": sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
        "llm.token_count.completion_details.reasoning": sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
        # A session groups the turns of one conversation (OpenInference: "chat session").
        "session.id": sc.GEN_AI_CONVERSATION_ID,
    },
    shape=shape,
)
