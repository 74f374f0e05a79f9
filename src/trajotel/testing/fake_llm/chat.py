"""``POST /v1/chat/completions``: OpenAI chat completions, JSON or SSE chunks."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any

from trajotel.testing.fake_llm.scenario import Step, compact, pick_step, pieces, produced_text
from trajotel.testing.fake_llm.wire import Reply

PATH = "/v1/chat/completions"


def handle(reply: Reply, request: dict[str, Any], raw: str) -> None:
    step, index = pick_step(reply.scenarios, request, raw)
    if step.status != 200:
        reply.openai_error(step.status, step.error)
        return
    body = completion(request, step, index)
    if request.get("stream"):
        reply.sse(("", compact(chunk)) for chunk in chunks(request, body))
    else:
        reply.json(200, body)


def _message(step: Step, index: int) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": step.content, "refusal": None}
    if step.reasoning is not None:
        message["reasoning_content"] = step.reasoning
    if step.tool_calls:
        message["tool_calls"] = [
            {
                "id": f"call_fk{index}x{n}_{secrets.token_hex(4)}",
                "type": "function",
                "function": {"name": name, "arguments": compact(arguments)},
            }
            for n, (name, arguments) in enumerate(step.tool_calls)
        ]
    return message


def _usage(request: Mapping[str, Any], step: Step, index: int) -> dict[str, Any]:
    prompt = 1 + len(compact(request.get("messages", []))) // 4
    completion = 1 + len(produced_text(step)) // 4
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": prompt // 2 if index else 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": completion // 2, "audio_tokens": 0},
    }


def _logprobs(step: Step) -> dict[str, Any]:
    text = step.content or "".join(compact(arguments) for _, arguments in step.tool_calls)
    tokens = pieces(text)
    content = [
        {"token": token, "logprob": -(i % 10 + 1) / 100, "bytes": list(token.encode()), "top_logprobs": []}
        for i, token in enumerate(tokens)
    ]
    return {"content": content, "refusal": None}


def completion(request: Mapping[str, Any], step: Step, index: int) -> dict[str, Any]:
    """A non-streaming ChatCompletion body for ``step`` (``n`` choices if requested)."""
    n = request.get("n") if isinstance(request.get("n"), int) and request.get("n", 0) > 0 else 1
    finish = step.finish_reason or ("tool_calls" if step.tool_calls else "stop")
    usage = _usage(request, step, index)
    token_ids = request.get("return_token_ids") is True
    choices = []
    for i in range(n):
        choice = {
            "index": i,
            "message": _message(step, index),
            "logprobs": _logprobs(step) if request.get("logprobs") is True else None,
            "finish_reason": finish,
        }
        if token_ids:
            choice["token_ids"] = [2000 + t for t in range(usage["completion_tokens"])]
        choices.append(choice)
    body: dict[str, Any] = {
        "id": f"chatcmpl-fk{secrets.token_hex(8)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model"),
        "choices": choices,
        "usage": usage,
        "system_fingerprint": "fp_fakellm",
        "service_tier": "default",
    }
    if token_ids:
        body["prompt_token_ids"] = [1000 + t for t in range(usage["prompt_tokens"])]
    return body


def chunks(request: Mapping[str, Any], body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The SSE chunks that stream ``body``: role, content pieces, tool-call deltas, finish."""
    base = {k: body[k] for k in ("id", "created", "model", "system_fingerprint", "service_tier")}
    base["object"] = "chat.completion.chunk"
    with_usage = bool((request.get("stream_options") or {}).get("include_usage"))
    out = []

    def emit(
        index: int, delta: dict[str, Any], finish: str | None = None, top: Any = None, **extra: Any
    ) -> None:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish, **extra}
        out.append({**base, **(top or {}), "choices": [choice], **({"usage": None} if with_usage else {})})

    # vLLM sends the prompt's token ids once, in the first chunk.
    first_top = {"prompt_token_ids": body["prompt_token_ids"]} if "prompt_token_ids" in body else None
    for choice in body["choices"]:
        index, message = choice["index"], choice["message"]
        emit(index, {"role": "assistant", "content": "", "refusal": None}, top=None if out else first_top)
        if message.get("reasoning_content"):
            emit(index, {"reasoning_content": message["reasoning_content"]})
        # With logprobs, each content piece carries its own entry (same split as _logprobs).
        entries = (choice.get("logprobs") or {}).get("content") or []
        words = pieces(message.get("content") or "")
        for n, piece in enumerate(words):
            if n < len(entries) and message.get("content"):
                emit(index, {"content": piece}, logprobs={"content": [entries[n]], "refusal": None})
            else:
                emit(index, {"content": piece})
        for n, call in enumerate(message.get("tool_calls", [])):
            name, arguments = call["function"]["name"], call["function"]["arguments"]
            first = {
                "index": n,
                "id": call["id"],
                "type": "function",
                "function": {"name": name, "arguments": ""},
            }
            emit(index, {"tool_calls": [first]})
            for piece in (arguments[i : i + 8] for i in range(0, len(arguments), 8)):
                emit(index, {"tool_calls": [{"index": n, "function": {"arguments": piece}}]})
        # Token ids all arrive with the last chunk of the choice (enough for a fake).
        ids = {"token_ids": choice["token_ids"]} if "token_ids" in choice else {}
        emit(index, {}, choice["finish_reason"], **ids)
    if with_usage:
        out.append({**base, "choices": [], "usage": body["usage"]})
    return out
