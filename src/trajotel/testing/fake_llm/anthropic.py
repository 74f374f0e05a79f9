"""``POST /v1/messages``: the Anthropic Messages API, JSON or SSE, from the same scenarios.

``anthropic.Anthropic(base_url="http://HOST:PORT")``. Tool ids are ``toolu_fk{step}x{n}_{hex}``;
usage splits the prompt into ``input_tokens`` + ``cache_read_input_tokens`` +
``cache_creation_input_tokens``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from trajotel.testing.fake_llm.scenario import Step, compact, pick_step, pieces, produced_text
from trajotel.testing.fake_llm.wire import Reply

PATH = "/v1/messages"


def handle(reply: Reply, request: dict[str, Any], raw: str) -> None:
    step, index = pick_step(reply.scenarios, request, raw)
    if step.status != 200:
        kind = "api_error" if step.status >= 500 else "invalid_request_error"
        error(reply, step.status, step.error, kind)
        return
    body = message(request, step, index)
    if request.get("stream"):
        # Anthropic's SSE names every event (``event: <type>``) and has no ``[DONE]`` sentinel.
        reply.sse(((event["type"], compact(event)) for event in events(body)), done=False)
    else:
        reply.json(200, body, {"request-id": f"req_fk{secrets.token_hex(6)}"})


def error(reply: Reply, status: int, message: str, kind: str) -> None:
    payload = {"type": "error", "error": {"type": kind, "message": message}}
    # As for chat completions: no SDK retries of a scripted failure.
    reply.json(status, payload, {"x-should-retry": "false"})


# Scenario finish reasons are OpenAI's; the Messages API names them differently.
_ANTHROPIC_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}


def _usage(request: Mapping[str, Any], step: Step, index: int) -> dict[str, int]:
    """Deterministic usage whose three input counts sum to the prompt size.

    ``prompt = 1 + len(compact JSON of system + messages) // 4``; a quarter of it is written to
    the cache, and after the first step half of it is read from the cache.
    """
    prompt = 1 + len(compact([request.get("system"), request.get("messages", [])])) // 4
    cache_read = prompt // 2 if index else 0
    cache_write = prompt // 4
    return {
        "input_tokens": prompt - cache_read - cache_write,
        "output_tokens": 1 + len(produced_text(step)) // 4,
        "cache_read_input_tokens": cache_read,
        "cache_creation_input_tokens": cache_write,
    }


def message(request: Mapping[str, Any], step: Step, index: int) -> dict[str, Any]:
    """A non-streaming Anthropic ``Message`` body for ``step``."""
    content: list[dict[str, Any]] = []
    if step.reasoning is not None:
        content.append({"type": "thinking", "thinking": step.reasoning, "signature": "fk-signature"})
    if step.content:
        content.append({"type": "text", "text": step.content})
    for n, (name, arguments) in enumerate(step.tool_calls):
        tool_id = f"toolu_fk{index}x{n}_{secrets.token_hex(4)}"
        content.append({"type": "tool_use", "id": tool_id, "name": name, "input": dict(arguments)})
    default = "tool_calls" if step.tool_calls else "stop"
    reason = step.finish_reason or default
    return {
        "id": f"msg_fk{secrets.token_hex(8)}",
        "type": "message",
        "role": "assistant",
        "model": request.get("model"),
        "content": content,
        "stop_reason": _ANTHROPIC_STOP_REASONS.get(reason, reason),
        "stop_sequence": None,
        "usage": _usage(request, step, index),
    }


def events(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The SSE events that stream ``body``, in the order the Messages API sends them."""
    usage = dict(body["usage"])
    start_usage = {**usage, "output_tokens": 1}  # the real API reports a placeholder here
    message = {**body, "content": [], "stop_reason": None, "stop_sequence": None, "usage": start_usage}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": message}]
    for i, block in enumerate(body["content"]):
        kind = block["type"]
        if kind == "text":
            start = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": piece} for piece in pieces(block["text"])]
        elif kind == "thinking":
            start = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [
                {"type": "thinking_delta", "thinking": block["thinking"]},
                {"type": "signature_delta", "signature": block["signature"]},
            ]
        else:
            arguments = compact(block["input"])
            start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            deltas = [
                {"type": "input_json_delta", "partial_json": arguments[j : j + 8]}
                for j in range(0, len(arguments), 8)
            ]
        events.append({"type": "content_block_start", "index": i, "content_block": start})
        events.extend({"type": "content_block_delta", "index": i, "delta": delta} for delta in deltas)
        events.append({"type": "content_block_stop", "index": i})
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": body["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": usage["output_tokens"]},
        }
    )
    events.append({"type": "message_stop"})
    return events
