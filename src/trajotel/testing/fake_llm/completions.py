"""``POST /v1/completions``: the legacy text-completion API, JSON or SSE chunks.

The completion text is the step's text (or its tool arguments as JSON when the step only calls
tools: the legacy API has no tool calls). Finish reason ``stop``, or the step's own.
Usage: ``prompt_tokens = 1 + len(compact JSON of prompt) // 4``, completion tokens as for chat.
With ``stream: true`` the text arrives in word pieces, the last chunk carries the finish reason,
then a usage-only chunk when ``stream_options.include_usage`` is set, then ``[DONE]``.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any

from trajotel.testing.fake_llm.scenario import Step, compact, pick_step, pieces, produced_text
from trajotel.testing.fake_llm.wire import Reply

PATH = "/v1/completions"


def handle(reply: Reply, request: dict[str, Any], raw: str) -> None:
    step, _ = pick_step(reply.scenarios, request, raw)
    if step.status != 200:
        reply.openai_error(step.status, step.error)
        return
    body = completion(request, step)
    if request.get("stream"):
        reply.sse(("", compact(chunk)) for chunk in chunks(request, body))
    else:
        reply.json(200, body)


def completion(request: Mapping[str, Any], step: Step) -> dict[str, Any]:
    """A non-streaming legacy ``Completion`` body for ``step``."""
    prompt = 1 + len(compact(request.get("prompt"))) // 4
    output = 1 + len(produced_text(step)) // 4
    choice = {
        "text": produced_text(step),
        "index": 0,
        "logprobs": None,
        "finish_reason": step.finish_reason or "stop",
    }
    return {
        "id": f"cmpl-fk{secrets.token_hex(8)}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": request.get("model"),
        "choices": [choice],
        "system_fingerprint": "fp_fakellm",
        "usage": {"prompt_tokens": prompt, "completion_tokens": output, "total_tokens": prompt + output},
    }


def chunks(request: Mapping[str, Any], body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The SSE chunks that stream ``body``: text pieces, then the finish reason."""
    base = {k: body[k] for k in ("id", "object", "created", "model", "system_fingerprint")}
    [choice] = body["choices"]
    out = [
        {**base, "choices": [{**choice, "text": piece, "finish_reason": None}]}
        for piece in pieces(choice["text"])
    ]
    out.append({**base, "choices": [{**choice, "text": ""}]})
    if (request.get("stream_options") or {}).get("include_usage"):
        out.append({**base, "choices": [], "usage": body["usage"]})
    return out
