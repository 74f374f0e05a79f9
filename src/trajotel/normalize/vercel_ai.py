"""Vercel AI SDK (``ai`` package, ``experimental_telemetry``): ``ai.*`` attributes.

Span kinds by ``ai.operationId``: ``ai.generateText`` / ``ai.streamText`` / ``ai.generateObject`` /
``ai.streamObject`` wrap a whole multi-step run (model calls and tool executions) and become the
``invoke_agent`` span; their ``.doGenerate`` / ``.doStream`` children are the model calls (``chat``)
and ``ai.toolCall`` the tool executions (``execute_tool``). Messages are the SDK's own model
messages (``ai.prompt.messages``: content parts ``text``, ``reasoning``, ``image``, ``file``,
``tool-call``, ``tool-result``; v4 names ``args`` / ``result`` as well as v5+ ``input`` / ``output``).
"""

from __future__ import annotations

import json
from typing import Any

from trajotel import semconv as sc
from trajotel.normalize.dialect import Dialect, Shaped
from trajotel.normalize.values import json_or_text

OPERATION_ID = "ai.operationId"
_RUNS = ("ai.generateText", "ai.streamText", "ai.generateObject", "ai.streamObject")
_MODEL_CALLS = (".doGenerate", ".doStream")
_FINISH_REASONS = {"tool-calls": "tool_call", "content-filter": "content_filter", "other": "stop"}


def _text(content: str) -> dict[str, Any]:
    return {"type": "text", "content": content}


def _compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))  # as JavaScript's JSON.stringify


def _tool_output(part: dict[str, Any]) -> Any:
    """A tool result as the text the SDK sends the model (what trajotel's own instrumentation of
    the API call records): v5+ ``output`` is ``{type, value}``, text kept, JSON values and
    content serialized; v4's ``result`` is always serialized."""
    if "output" not in part:
        return _compact_json(part.get("result"))
    output = part["output"]
    if not isinstance(output, dict):
        return output
    kind = output.get("type")
    if kind in ("text", "error-text"):
        return output.get("value")
    if kind == "execution-denied":
        return output.get("reason") or "Tool execution denied."
    return _compact_json(output.get("value")) if "value" in output else output


def _part(part: Any) -> dict[str, Any] | None:
    if isinstance(part, str):
        return _text(part)
    if not isinstance(part, dict):
        return None
    kind = part.get("type")
    if kind in ("text", "reasoning"):
        return {"type": kind, "content": part.get("text", "")} if part.get("text") else None
    if kind == "tool-call":
        arguments = part["input"] if "input" in part else part.get("args")
        return {
            "type": "tool_call",
            "id": part.get("toolCallId"),
            "name": part.get("toolName"),
            "arguments": json_or_text(arguments) if isinstance(arguments, str) else arguments,
        }
    if kind == "tool-result":
        return {"type": "tool_call_response", "id": part.get("toolCallId"), "response": _tool_output(part)}
    if kind in ("image", "file"):
        data = part.get("image") if kind == "image" else part.get("data")
        mime_type = part.get("mediaType") or part.get("mimeType")
        modality = "image" if kind == "image" else (str(mime_type or "").split("/")[0] or "document")
        key = "uri" if isinstance(data, str) and data.startswith(("http://", "https://")) else "content"
        out = {"type": "uri" if key == "uri" else "blob", "modality": modality, key: data}
        return out | ({"mime_type": mime_type} if mime_type else {})
    return dict(part)  # unknown part types travel as they are


def _message(message: Any) -> dict[str, Any]:
    if not isinstance(message, dict):
        raise ValueError(f"ai.prompt.messages: each message must be an object, got {type(message).__name__}")
    content = message.get("content")
    items = content if isinstance(content, list) else [content] if content else []
    parts = [p for p in map(_part, items) if p is not None]
    return {"role": message.get("role"), "parts": parts}


def _output(attributes: dict[str, str]) -> list[dict[str, Any]]:
    parts = []
    reasoning = attributes.get("ai.response.reasoning")
    if reasoning:
        parts.append({"type": "reasoning", "content": reasoning})
    if attributes.get("ai.response.text"):
        parts.append(_text(attributes["ai.response.text"]))
    calls = json_or_text(attributes.get("ai.response.toolCalls"))
    for call in calls if isinstance(calls, list) else []:
        part = _part({"type": "tool-call", **call}) if isinstance(call, dict) else None
        if part is not None:
            parts.append(part)
    raw = attributes.get("ai.response.finishReason", "")
    finish = _FINISH_REASONS.get(raw, raw or "stop")
    return [{"role": "assistant", "parts": parts, "finish_reason": finish}]


def _tools(text: str) -> list[dict[str, Any]]:
    """``ai.prompt.tools``: a list of JSON texts (a string array attribute, stored as JSON)."""
    tools = []
    for item in json_or_text(text) or []:
        tool = json_or_text(item) if isinstance(item, str) else item
        if not isinstance(tool, dict):
            raise ValueError("ai.prompt.tools: each tool must be a JSON object")
        definition = {"type": tool.get("type", "function"), "name": tool.get("name")}
        if tool.get("description") is not None:
            definition["description"] = tool["description"]
        schema = tool.get("inputSchema", tool.get("parameters"))
        if schema is not None:
            definition["parameters"] = schema
        tools.append(definition)
    return tools


def _model_call(attributes: dict[str, str], shaped: Shaped) -> None:
    shaped.attributes[sc.GEN_AI_OPERATION_NAME] = "chat"
    messages = json_or_text(attributes.get("ai.prompt.messages"))
    if messages is not None:
        if not isinstance(messages, list):
            raise ValueError("ai.prompt.messages: must be a JSON list of messages")
        # System messages stay in the history, as the chat API sends them (conventions §3.1).
        shaped.input_messages = [_message(m) for m in messages]
        shaped.consumed.add("ai.prompt.messages")
    if any(
        k in attributes for k in ("ai.response.text", "ai.response.toolCalls", "ai.response.finishReason")
    ):
        shaped.output_messages = _output(attributes)
        shaped.consumed.update({"ai.response.text", "ai.response.toolCalls", "ai.response.reasoning"})
    if attributes.get("ai.prompt.tools"):
        shaped.tool_definitions = _tools(attributes["ai.prompt.tools"])
        shaped.consumed.add("ai.prompt.tools")


def _run(attributes: dict[str, str], shaped: Shaped) -> None:
    shaped.attributes[sc.GEN_AI_OPERATION_NAME] = "invoke_agent"
    if attributes.get("ai.telemetry.functionId"):
        shaped.attributes[sc.GEN_AI_AGENT_NAME] = attributes["ai.telemetry.functionId"]
    prompt = json_or_text(attributes.get("ai.prompt"))
    if isinstance(prompt, dict) and isinstance(prompt.get("prompt"), str):
        shaped.attributes[sc.TRAJOTEL_TASK] = prompt["prompt"]


def _tool_call(attributes: dict[str, str], shaped: Shaped) -> None:
    shaped.attributes[sc.GEN_AI_OPERATION_NAME] = "execute_tool"
    for source, target in (
        ("ai.toolCall.name", sc.GEN_AI_TOOL_NAME),
        ("ai.toolCall.id", sc.GEN_AI_TOOL_CALL_ID),
        ("ai.toolCall.args", sc.GEN_AI_TOOL_CALL_ARGUMENTS),
        ("ai.toolCall.input", sc.GEN_AI_TOOL_CALL_ARGUMENTS),
        ("ai.toolCall.result", sc.GEN_AI_TOOL_CALL_RESULT),
        ("ai.toolCall.output", sc.GEN_AI_TOOL_CALL_RESULT),
    ):
        if attributes.get(source) is not None:
            shaped.attributes[target] = attributes[source]


def shape(attributes: dict[str, str]) -> Shaped:
    shaped = Shaped()
    operation = attributes.get(OPERATION_ID, "")
    provider = attributes.get("ai.model.provider")
    if provider:  # "openai.chat", "anthropic.messages": the provider is the first word
        shaped.attributes[sc.GEN_AI_PROVIDER_NAME] = provider.split(".", 1)[0]
    if operation.endswith(_MODEL_CALLS):
        _model_call(attributes, shaped)
    elif operation in _RUNS:
        _run(attributes, shaped)
    elif operation == "ai.toolCall":
        _tool_call(attributes, shaped)
    if shaped.output_messages and attributes.get("ai.response.finishReason"):
        reasons = [m["finish_reason"] for m in shaped.output_messages]
        shaped.attributes.setdefault(sc.GEN_AI_RESPONSE_FINISH_REASONS, json.dumps(reasons))
    return shaped


DIALECT = Dialect(
    name="vercel_ai",
    markers=(OPERATION_ID,),
    renames={
        "ai.model.id": sc.GEN_AI_REQUEST_MODEL,
        "ai.response.model": sc.GEN_AI_RESPONSE_MODEL,
        "ai.response.id": sc.GEN_AI_RESPONSE_ID,
        "ai.usage.inputTokens": sc.GEN_AI_USAGE_INPUT_TOKENS,
        "ai.usage.promptTokens": sc.GEN_AI_USAGE_INPUT_TOKENS,
        "ai.usage.outputTokens": sc.GEN_AI_USAGE_OUTPUT_TOKENS,
        "ai.usage.completionTokens": sc.GEN_AI_USAGE_OUTPUT_TOKENS,
        "ai.usage.cachedInputTokens": sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
        "ai.usage.reasoningTokens": sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
    },
    shape=shape,
)
