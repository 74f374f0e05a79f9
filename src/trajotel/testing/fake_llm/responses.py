"""``POST /v1/responses``: the OpenAI Responses API, a ``Response`` object or typed SSE events.

The body is a complete ``Response`` (``id``, ``created_at``, ``status``, ``output[]``,
``parallel_tool_calls``, ``tool_choice``, ``tools``, ``text.format``, ``usage`` with its details
...), as the openai SDK and the OpenAI Agents SDK expect. Output items, in order: a ``reasoning``
item (when the step has reasoning; its text as one summary), a ``message`` with one
``output_text`` (when the step has text), then one ``function_call`` per tool call, whose
``call_id`` is ``call_fk{step}x{n}_{hex}`` so that step selection works when the client sends the
``function_call_output`` (or the whole history) back.

With ``stream: true`` the same response arrives as the typed event sequence, each event with its
``sequence_number``: ``response.created``, ``response.in_progress``, then per output item
``response.output_item.added``, (``content_part.added``, ``output_text.delta``...,
``output_text.done``, ``content_part.done`` | ``reasoning_summary_part.added``,
``reasoning_summary_text.delta``, ``.done``, ``reasoning_summary_part.done`` |
``function_call_arguments.delta``..., ``.done``), ``response.output_item.done``, and finally
``response.completed`` (``response.incomplete`` when the step's finish reason is ``length`` or
``content_filter``).

Structured output: a requested ``text.format`` (``json_schema``...) is echoed in the response, and
the step's text is the output text, so a scenario scripts the JSON it wants parsed.

Usage: ``input_tokens = 1 + len(compact JSON of [instructions, input]) // 4``, output tokens
as for chat; cached tokens are half the input after the first step, reasoning tokens half the
output.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any

from trajotel.testing.fake_llm.scenario import Step, compact, pick_step, pieces, produced_text
from trajotel.testing.fake_llm.wire import Reply

PATH = "/v1/responses"

# Scenario finish reasons that make a response "incomplete", with the reason the API gives.
_INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}


def handle(reply: Reply, request: dict[str, Any], raw: str) -> None:
    step, index = pick_step(reply.scenarios, request, raw)
    if step.status != 200:
        reply.openai_error(step.status, step.error)
        return
    body = response(request, step, index)
    if request.get("stream"):
        # Each event is named (``event: <type>``); the Responses API sends no ``[DONE]``.
        reply.sse(((event["type"], compact(event)) for event in events(body)), done=False)
    else:
        reply.json(200, body)


def _usage(request: Mapping[str, Any], step: Step, index: int) -> dict[str, Any]:
    prompt = 1 + len(compact([request.get("instructions"), request.get("input")])) // 4
    output = 1 + len(produced_text(step)) // 4
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": prompt // 2 if index else 0},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": output // 2},
        "total_tokens": prompt + output,
    }


def _output(step: Step, index: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if step.reasoning is not None:
        summary = [{"type": "summary_text", "text": step.reasoning}]
        items.append({"id": f"rs_fk{secrets.token_hex(8)}", "type": "reasoning", "summary": summary})
    if step.content:
        text = {"type": "output_text", "text": step.content, "annotations": [], "logprobs": []}
        items.append(
            {
                "id": f"msg_fk{secrets.token_hex(8)}",
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": [text],
            }
        )
    for n, (name, arguments) in enumerate(step.tool_calls):
        items.append(
            {
                "id": f"fc_fk{secrets.token_hex(8)}",
                "type": "function_call",
                "call_id": f"call_fk{index}x{n}_{secrets.token_hex(4)}",
                "name": name,
                "arguments": compact(arguments),
                "status": "completed",
            }
        )
    return items


def response(request: Mapping[str, Any], step: Step, index: int) -> dict[str, Any]:
    """A non-streaming ``Response`` body for ``step``."""
    incomplete = _INCOMPLETE_REASONS.get(step.finish_reason or "")
    text_config = request.get("text") if isinstance(request.get("text"), dict) else {}
    return {
        "id": f"resp_fk{secrets.token_hex(8)}",
        "object": "response",
        "created_at": int(time.time()),
        "status": "incomplete" if incomplete else "completed",
        "error": None,
        "incomplete_details": {"reason": incomplete} if incomplete else None,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "metadata": request.get("metadata") or {},
        "model": request.get("model"),
        "output": _output(step, index),
        "parallel_tool_calls": request.get("parallel_tool_calls", True),
        "previous_response_id": request.get("previous_response_id"),
        "reasoning": request.get("reasoning") or {"effort": None, "summary": None},
        "service_tier": "default",
        "store": request.get("store", True),
        "temperature": request.get("temperature", 1.0),
        "text": {"format": text_config.get("format") or {"type": "text"}},
        "tool_choice": request.get("tool_choice", "auto"),
        "tools": request.get("tools") or [],
        "top_p": request.get("top_p", 1.0),
        "truncation": request.get("truncation", "disabled"),
        "usage": _usage(request, step, index),
        "user": None,
    }


def _item_events(item: Mapping[str, Any], output_index: int) -> list[dict[str, Any]]:
    """The events between ``output_item.added`` and ``output_item.done`` of one item."""
    where = {"item_id": item["id"], "output_index": output_index}
    kind = item["type"]
    if kind == "message":
        part = item["content"][0]
        text = part["text"]
        empty = {**part, "text": ""}
        return [
            {"type": "response.content_part.added", **where, "content_index": 0, "part": empty},
            *(
                {
                    "type": "response.output_text.delta",
                    **where,
                    "content_index": 0,
                    "delta": p,
                    "logprobs": [],
                }
                for p in pieces(text)
            ),
            {"type": "response.output_text.done", **where, "content_index": 0, "text": text, "logprobs": []},
            {"type": "response.content_part.done", **where, "content_index": 0, "part": part},
        ]
    if kind == "reasoning":
        text = item["summary"][0]["text"]
        at = {**where, "summary_index": 0}
        part = {"type": "summary_text", "text": text}
        return [
            {"type": "response.reasoning_summary_part.added", **at, "part": {**part, "text": ""}},
            {"type": "response.reasoning_summary_text.delta", **at, "delta": text},
            {"type": "response.reasoning_summary_text.done", **at, "text": text},
            {"type": "response.reasoning_summary_part.done", **at, "part": part},
        ]
    arguments = item["arguments"]
    return [
        *(
            {"type": "response.function_call_arguments.delta", **where, "delta": arguments[i : i + 8]}
            for i in range(0, len(arguments), 8)
        ),
        {
            "type": "response.function_call_arguments.done",
            **where,
            "arguments": arguments,
            "name": item["name"],
        },
    ]


def _in_progress(item: Mapping[str, Any]) -> dict[str, Any]:
    """An output item as ``output_item.added`` announces it: empty, still in progress."""
    if item["type"] == "message":
        return {**item, "status": "in_progress", "content": []}
    if item["type"] == "function_call":
        return {**item, "status": "in_progress", "arguments": ""}
    return {**item, "summary": []}


def events(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The typed SSE events that stream ``body``, numbered by ``sequence_number``."""
    started = {**body, "status": "in_progress", "output": [], "usage": None, "incomplete_details": None}
    out: list[dict[str, Any]] = [
        {"type": "response.created", "response": started},
        {"type": "response.in_progress", "response": started},
    ]
    for output_index, item in enumerate(body["output"]):
        out.append(
            {"type": "response.output_item.added", "output_index": output_index, "item": _in_progress(item)}
        )
        out.extend(_item_events(item, output_index))
        out.append({"type": "response.output_item.done", "output_index": output_index, "item": item})
    final = "response.incomplete" if body["status"] == "incomplete" else "response.completed"
    out.append({"type": final, "response": dict(body)})
    return [{**event, "sequence_number": n} for n, event in enumerate(out)]
