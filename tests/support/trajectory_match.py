"""Check a stored trajectory against what the fake LLM server really received and answered.

    check_trajectory(trajectory, fake_llm.requests, tool_results=[...])

Both sides are brought to one comparable shape, the GenAI parts model as tuples:
``(role, ((part type, ...), ...))`` with text ``("text", content)``, reasoning
``("reasoning", content)``, tool calls ``("tool_call", id, name, arguments)`` (arguments parsed
JSON) and tool results ``("tool_call_response", id, response)``. The wire side is converted here,
independently of trajotel's instrumentation code, so a conversion bug there shows as a mismatch.

Requests are the fake server's log entries (``FakeLLMServer.requests``), with the response it
sent (JSON body, or SSE events reassembled here). OpenAI chat completions and the Anthropic
Messages API are understood; other entries (GET, embeddings...) are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Normalized = tuple[str, tuple[tuple[Any, ...], ...]]

CHAT_PATH = "/chat/completions"
MESSAGES_PATH = "/v1/messages"


def _json_value(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _freeze(value: Any) -> Any:
    """A hashable, order-keeping copy of a JSON value (tuples compare equal with one another)."""
    if isinstance(value, Mapping):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def _text(text: Any) -> list[tuple[Any, ...]]:
    return [("text", text)] if isinstance(text, str) and text else []


# --- the stored side (semconv parts) -------------------------------------------------------------


def from_semconv(message: Mapping[str, Any]) -> Normalized:
    parts: list[tuple[Any, ...]] = []
    for part in message.get("parts", []):
        kind = part.get("type")
        if kind in ("text", "reasoning"):
            parts += [(kind, part["content"])] if part.get("content") else []
        elif kind == "tool_call":
            parts.append(("tool_call", part.get("id"), part.get("name"), _freeze(part.get("arguments"))))
        elif kind == "tool_call_response":
            parts.append(("tool_call_response", part.get("id"), _freeze(part.get("response"))))
        else:
            parts.append((kind, _freeze({k: v for k, v in part.items() if k != "type"})))
    return (message["role"], tuple(parts))


# --- OpenAI chat completions -----------------------------------------------------------------------


def _chat_content(content: Any) -> list[tuple[Any, ...]]:
    if isinstance(content, str) or content is None:
        return _text(content)
    parts: list[tuple[Any, ...]] = []
    for item in content:
        if item.get("type") == "text":
            parts += _text(item.get("text"))
        elif item.get("type") == "image_url":
            parts.append(("uri", _freeze({"modality": "image", "uri": item["image_url"]["url"]})))
        else:
            parts.append((item.get("type"), _freeze(item)))
    return parts


def _chat_tool_call(call: Mapping[str, Any]) -> tuple[Any, ...]:
    function = call["function"]
    return ("tool_call", call["id"], function["name"], _freeze(_json_value(function["arguments"])))


def from_chat_message(message: Mapping[str, Any]) -> Normalized:
    """One chat ``messages`` entry (request side) or a response ``message``."""
    if message["role"] in ("tool", "function"):
        content = message.get("content")
        text = content if isinstance(content, str) else "".join(i.get("text", "") for i in content or [])
        return ("tool", (("tool_call_response", message.get("tool_call_id"), text),))
    parts = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    parts += [("reasoning", reasoning)] if isinstance(reasoning, str) and reasoning else []
    parts += _chat_content(message.get("content"))
    parts += [_chat_tool_call(call) for call in message.get("tool_calls") or []]
    return (message["role"], tuple(parts))


def chat_response_message(response: Mapping[str, Any]) -> dict[str, Any]:
    """The first choice's message of a chat response: the JSON body, or the stream reassembled."""
    if "body" in response:
        return response["body"]["choices"][0]["message"]
    message: dict[str, Any] = {"role": "assistant", "content": "", "reasoning_content": ""}
    calls: dict[int, dict[str, Any]] = {}
    for event in response["events"]:
        for choice in event.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            message["content"] += delta.get("content") or ""
            message["reasoning_content"] += delta.get("reasoning_content") or ""
            for piece in delta.get("tool_calls") or []:
                call = calls.setdefault(piece["index"], {"function": {"name": "", "arguments": ""}})
                call["id"] = piece.get("id") or call.get("id")
                function = piece.get("function") or {}
                call["function"]["name"] += function.get("name") or ""
                call["function"]["arguments"] += function.get("arguments") or ""
    message["tool_calls"] = [calls[i] for i in sorted(calls)]
    return message


# --- Anthropic Messages ---------------------------------------------------------------------------


def _anthropic_blocks(content: Any) -> list[tuple[Any, ...]]:
    if isinstance(content, str):
        return _text(content)
    parts: list[tuple[Any, ...]] = []
    for block in content or []:
        kind = block.get("type")
        if kind == "text":
            parts += _text(block.get("text"))
        elif kind == "thinking":
            parts += [("reasoning", block["thinking"])] if block.get("thinking") else []
        elif kind == "tool_use":
            parts.append(("tool_call", block["id"], block["name"], _freeze(block.get("input"))))
        elif kind == "tool_result":
            result = block.get("content")
            if isinstance(result, list) and all(b.get("type") == "text" for b in result):
                result = "".join(b["text"] for b in result)
            parts.append(("tool_call_response", block["tool_use_id"], _freeze(result)))
        else:
            parts.append((kind, _freeze(block)))
    return parts


def from_anthropic_message(message: Mapping[str, Any]) -> Normalized:
    return (message["role"], tuple(_anthropic_blocks(message.get("content"))))


def anthropic_response_message(response: Mapping[str, Any]) -> dict[str, Any]:
    if "body" in response:
        return {"role": "assistant", "content": response["body"]["content"]}
    blocks: dict[int, dict[str, Any]] = {}
    for event in response["events"]:
        kind = event.get("type")
        if kind == "content_block_start":
            blocks[event["index"]] = {**event["content_block"], "_json": ""}
        elif kind == "content_block_delta":
            block, delta = blocks[event["index"]], event["delta"]
            if delta["type"] == "text_delta":
                block["text"] = block.get("text", "") + delta["text"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] = block.get("thinking", "") + delta["thinking"]
            elif delta["type"] == "input_json_delta":
                block["_json"] += delta["partial_json"]
    content = []
    for index in sorted(blocks):
        block = blocks[index]
        raw = block.pop("_json")
        if block.get("type") == "tool_use" and raw:
            block["input"] = json.loads(raw)
        content.append(block)
    return {"role": "assistant", "content": content}


# --- exchanges and the check ------------------------------------------------------------------------


def exchanges(requests: Iterable[Mapping[str, Any]]) -> list[tuple[list[Normalized], Normalized]]:
    """Each model call the server answered with 200: (input messages, output message), in order."""
    out = []
    for entry in requests:
        path = str(entry.get("path", "")).split("?", 1)[0]
        response = entry.get("response") or {}
        if entry.get("method") != "POST" or response.get("status") != 200:
            continue
        body = entry["body"]
        if path.endswith(CHAT_PATH):
            inputs = [from_chat_message(m) for m in body["messages"]]
            out.append((inputs, from_chat_message(chat_response_message(response))))
        elif path.endswith(MESSAGES_PATH):
            inputs = [from_anthropic_message(m) for m in body["messages"]]
            out.append((inputs, from_anthropic_message(anthropic_response_message(response))))
    return out


def check_trajectory(
    trajectory: Any, requests: Sequence[Mapping[str, Any]], tool_results: Sequence[Any] | None = None
) -> None:
    """Assert that ``trajectory`` (``trajotel.assemble.model.Trajectory``) records exactly the
    model calls in ``requests``: one turn per call, inputs as sent, outputs as answered, and, when
    ``tool_results`` is given, one tool call per entry, in order, whose result equals it."""
    calls = exchanges(requests)
    assert len(trajectory.turns) == len(calls), f"{len(trajectory.turns)} turns for {len(calls)} model calls"
    for index, (turn, (sent, answered)) in enumerate(zip(trajectory.turns, calls, strict=True)):
        stored_input = [from_semconv(m.to_semconv()) for m in turn.input_messages]
        assert stored_input == sent, f"turn {index}: input differs from the request"
        stored_output = [from_semconv(m.to_semconv()) for m in turn.output_messages]
        assert stored_output == [answered], f"turn {index}: output differs from the response"
        requested = [p for p in answered[1] if p[0] == "tool_call"]
        assert [(c.id, c.name, _freeze(c.arguments)) for c in turn.tool_calls] == [p[1:] for p in requested]
    if tool_results is not None:
        stored = [call for turn in trajectory.turns for call in turn.tool_calls]
        assert [c.result for c in stored] == list(tool_results), "tool results differ from the tools' returns"
        assert all(c.result_source == "execute_tool_span" for c in stored), "a tool call has no tool span"
