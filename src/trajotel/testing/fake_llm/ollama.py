"""``POST /api/chat``: the Ollama chat API, one JSON body or an NDJSON stream (``stream`` defaults
to true, as in Ollama).

Tool calls carry minted ids (``call_fk{step}x{n}_{hex}``) as an extra ``id`` field, but the
``ollama`` client drops unknown fields, so its history comes back without them. The step is then
rebuilt from the history: each assistant message with tool calls is one past step, written as
the id it would have carried, so the shared id scan (``scenario.pick_step``) picks the step.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any

from trajotel.testing.fake_llm.scenario import Step, compact, pick_step, pieces, produced_text
from trajotel.testing.fake_llm.wire import Reply

PATH = "/api/chat"


def handle(reply: Reply, request: dict[str, Any], raw: str) -> None:
    step, index = pick_step(reply.scenarios, request, raw + _history_ids(request))
    if step.status != 200:
        reply.json(step.status, {"error": step.error})
        return
    final = _final(request, step, index)
    if request.get("stream", True) is False:
        reply.json(200, final)
        return
    reply.ndjson([*_chunks(request, step, final), {**final, "message": {"role": "assistant", "content": ""}}])


def _history_ids(request: Mapping[str, Any]) -> str:
    messages = request.get("messages") or []
    turns = [
        m for m in messages if isinstance(m, dict) and m.get("role") == "assistant" and m.get("tool_calls")
    ]
    return " ".join(f"call_fk{step}x0_0" for step in range(len(turns)))


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime())


def _tool_calls(step: Step, index: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"call_fk{index}x{n}_{secrets.token_hex(4)}",
            "function": {"name": name, "arguments": arguments},
        }
        for n, (name, arguments) in enumerate(step.tool_calls)
    ]


def _final(request: Mapping[str, Any], step: Step, index: int) -> dict[str, Any]:
    """The non-streamed answer: the whole message, done, with Ollama's counts and durations."""
    message: dict[str, Any] = {"role": "assistant", "content": step.content or ""}
    if step.reasoning is not None:
        message["thinking"] = step.reasoning
    if step.tool_calls:
        message["tool_calls"] = _tool_calls(step, index)
    return {
        "model": request.get("model"),
        "created_at": _now(),
        "message": message,
        "done": True,
        "done_reason": step.finish_reason or "stop",  # Ollama says "stop" after tool calls too
        "total_duration": 1_000_000,
        "load_duration": 1_000,
        "prompt_eval_count": 1 + len(compact(request.get("messages", []))) // 4,
        "prompt_eval_duration": 100_000,
        "eval_count": 1 + len(produced_text(step)) // 4,
        "eval_duration": 500_000,
    }


def _chunks(request: Mapping[str, Any], step: Step, final: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Streamed pieces before the final ``done`` line: thinking, text words, then the tool calls."""
    base = {"model": request.get("model"), "created_at": _now(), "done": False}
    out: list[dict[str, Any]] = []
    if step.reasoning:
        out.append({**base, "message": {"role": "assistant", "content": "", "thinking": step.reasoning}})
    for piece in pieces(step.content or ""):
        out.append({**base, "message": {"role": "assistant", "content": piece}})
    if final["message"].get("tool_calls"):
        # Ollama sends each call whole, in one line.
        calls = final["message"]["tool_calls"]
        out.append({**base, "message": {"role": "assistant", "content": "", "tool_calls": calls}})
    return out
