"""Asking an OpenAI-compatible chat endpoint for a JSON judgement, through the openai client.

One ``ask`` is one judgement: the reply must parse as JSON and match the schema (``schema``);
rate limits (429), server errors (5xx), timeouts and connection errors are retried after
``backoff_s`` doubling each time (or the server's ``Retry-After``), invalid replies are asked
again at once, both up to ``max_retries`` times. Other 4xx answers (a wrong model name, a bad
key) fail at once: asking again would not help. Tokens and cost add up over every attempt (an
invalid reply is paid for too). A semaphore caps the calls in flight across threads.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import openai

from trajotel.config import JudgeConfig
from trajotel.enrich import schema
from trajotel.errors import ConfigError

MAX_RETRY_AFTER_S = 60.0
_RETRYABLE_STATUS = {408, 409, 429}


def judge_settings(options: Mapping[str, Any]) -> JudgeConfig:
    """``[enrich.judge]`` from a stage's options (unknown keys ignored)."""
    return JudgeConfig(**{f.name: options[f.name] for f in fields(JudgeConfig) if f.name in options})


def cost(settings: JudgeConfig, input_tokens: int, output_tokens: int) -> float:
    """USD, from the configured prices per million tokens."""
    return (
        input_tokens * settings.input_price_per_mtok + output_tokens * settings.output_price_per_mtok
    ) / 1e6


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    attempts: int = 0

    def as_result_fields(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd,
        }


class JudgeFailed(Exception):
    """No valid judgement; ``usage`` is what the attempts cost."""

    def __init__(self, message: str, usage: Usage) -> None:
        super().__init__(message)
        self.usage = usage


class JudgeClient:
    def __init__(self, settings: JudgeConfig, concurrency: int, stage: str) -> None:
        if not settings.model:
            raise ConfigError(
                f"stage {stage!r} needs a judge model and [enrich.judge] model is empty",
                hint="set it in the config file or TRAJOTEL_ENRICH_JUDGE_MODEL, e.g. gpt-4o-mini",
            )
        key = os.environ.get(settings.api_key_env, "")
        base_url = settings.base_url or os.environ.get("OPENAI_BASE_URL") or None
        if not key and base_url is None:
            raise ConfigError(
                f"stage {stage!r}: no API key in ${settings.api_key_env} for the OpenAI API",
                hint="export the key, or set [enrich.judge] base_url to an endpoint that needs none",
            )
        self.settings = settings
        # Retries are ours (configurable backoff, invalid replies retried the same way).
        self.client = openai.OpenAI(
            api_key=key or "unused", base_url=base_url, max_retries=0, timeout=settings.timeout_s
        )
        self._slots = threading.BoundedSemaphore(max(1, concurrency))

    def ask(
        self,
        messages: list[dict[str, str]],
        schema_name: str,
        reply_schema: Mapping[str, Any],
        check: Callable[[dict[str, Any]], list[str]] | None = None,
    ) -> tuple[dict[str, Any], Usage]:
        """A reply matching ``reply_schema`` (and ``check``, for rules a schema cannot say)."""
        s = self.settings
        usage = Usage()
        last = "no attempt"
        for attempt in range(1 + max(0, s.max_retries)):
            usage.attempts += 1
            try:
                with self._slots:
                    response = self.client.chat.completions.create(
                        model=s.model,
                        messages=messages,  # type: ignore[arg-type]
                        temperature=s.temperature,
                        response_format=self._response_format(schema_name, reply_schema),  # type: ignore[arg-type]
                    )
            except (openai.APIStatusError, openai.APITimeoutError, openai.APIConnectionError) as exc:
                last = _describe(exc)
                if isinstance(exc, openai.APIStatusError) and not _retryable(exc.status_code):
                    raise JudgeFailed(last, usage) from None
                if attempt < s.max_retries:
                    time.sleep(_delay(exc, s.backoff_s * 2**attempt))
                continue
            if response.usage is not None:
                usage.input_tokens += response.usage.prompt_tokens
                usage.output_tokens += response.usage.completion_tokens
                usage.cost_usd = cost(s, usage.input_tokens, usage.output_tokens)
            text = (response.choices[0].message.content or "") if response.choices else ""
            value, found = _parse(text, reply_schema, check)
            if not found:
                return value, usage
            last = f"invalid reply: {'; '.join(found[:3])}"
        raise JudgeFailed(f"no valid judgement after {usage.attempts} attempts; last: {last}", usage)

    def _response_format(self, name: str, reply_schema: Mapping[str, Any]) -> dict[str, Any]:
        if not self.settings.structured_output:
            return {"type": "json_object"}
        return {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": reply_schema}}


def _parse(
    text: str, reply_schema: Mapping[str, Any], check: Callable[[dict[str, Any]], list[str]] | None
) -> tuple[dict[str, Any], list[str]]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        return {}, [f"not JSON ({exc}): {text[:80]!r}"]
    found = schema.problems(value, reply_schema)
    if not found and check is not None:
        found = check(value)
    return value, found


def _retryable(status: int) -> bool:
    return status in _RETRYABLE_STATUS or status >= 500


def _describe(exc: Exception) -> str:
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code} from the judge endpoint: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def _delay(exc: Exception, backoff: float) -> float:
    """The server's Retry-After (seconds) when it sent one, else ``backoff``."""
    response = getattr(exc, "response", None)
    header = response.headers.get("retry-after") if response is not None else None
    try:
        return min(MAX_RETRY_AFTER_S, max(0.0, float(header))) if header else backoff
    except ValueError:
        return backoff
