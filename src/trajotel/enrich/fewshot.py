"""Few-shot context for a new task (docs/learning.md): the most similar successful past runs,
formatted as examples that fit a token budget.

Tokens are estimated as ``ceil(characters / 4)`` (plus ``MESSAGE_OVERHEAD_TOKENS`` per chat
message), a common rule of thumb for English text with OpenAI-style tokenizers; pass
``count_tokens`` (say, ``lambda s: len(tiktoken.get_encoding("o200k_base").encode(s))``) for an
exact count. The estimate of what is returned never exceeds the budget: long tool results are
cut with a visible marker (``Limits.result_chars``), and an example that does not fit is left
out whole, never cut in half.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from trajotel.client import Client
from trajotel.enrich.excerpts import Limits, as_text
from trajotel.enrich.learn import get_successful_examples
from trajotel.errors import InvalidInputError

MESSAGE_OVERHEAD_TOKENS = 4  # what a chat message's role and framing cost besides its content
HEADER = "Successful runs of similar tasks, most similar first. Reuse what worked; adapt it to the new task."
FORMATS = ("text", "messages")


def estimate_tokens(text: str) -> int:
    """The token estimate of a text: characters / 4, rounded up."""
    return (len(text) + 3) // 4


@dataclass
class FewShotContext:
    """``text`` (format "text") or ``messages`` (format "messages": OpenAI chat messages, a user
    message with each example's task and an assistant message with what it did) and what they
    cost. ``example_ids``: the runs shown, most similar first; ``dropped_ids``: similar
    successful runs left out because they did not fit the budget."""

    format: str
    text: str = ""
    messages: list[dict[str, str]] = field(default_factory=list)
    tokens: int = 0
    token_budget: int = 0
    example_ids: list[str] = field(default_factory=list)
    dropped_ids: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return self.text


def few_shot_context(
    task: str,
    k: int = 3,
    token_budget: int = 2000,
    agent: str | None = None,
    format: Literal["text", "messages"] = "text",
    *,
    min_score: float = 0.7,
    count_tokens: Callable[[str], int] | None = None,
    client: Client | None = None,
    limits: Limits | None = None,
) -> FewShotContext:
    """The top ``k`` successful runs similar to ``task`` (``get_successful_examples``) as
    examples whose estimated size is at most ``token_budget`` tokens."""
    if format not in FORMATS:
        raise InvalidInputError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    if isinstance(token_budget, bool) or not isinstance(token_budget, int) or token_budget < 0:
        raise InvalidInputError(f"token_budget must be a non-negative integer, got {token_budget!r}")
    count = count_tokens or estimate_tokens
    examples = get_successful_examples(
        task, k=k, agent=agent, min_score=min_score, client=client, limits=limits
    )
    context = FewShotContext(format=format, token_budget=token_budget)
    shown: list[dict[str, Any]] = []
    for example in examples:
        # Rendering the whole candidate each time: the count of a concatenation is what matters
        # (a real tokenizer's count of a + b is not always count(a) + count(b)).
        if _cost([*shown, example], format, count) <= token_budget:
            shown.append(example)
        else:
            context.dropped_ids.append(example["id"])
    context.example_ids = [e["id"] for e in shown]
    context.tokens = _cost(shown, format, count)
    if format == "text":
        context.text = render_text(shown)
    else:
        context.messages = render_messages(shown)
    return context


def _cost(examples: Sequence[dict[str, Any]], format: str, count: Callable[[str], int]) -> int:
    if format == "text":
        text = render_text(examples)
        return count(text) if text else 0
    return sum(MESSAGE_OVERHEAD_TOKENS + count(m["content"]) for m in render_messages(examples))


def render_text(examples: Sequence[dict[str, Any]]) -> str:
    """The examples as one block of text for a system prompt ("" without examples)."""
    if not examples:
        return ""
    blocks = [HEADER]
    for number, example in enumerate(examples, start=1):
        score = "" if example["score"] is None else f" (score {example['score']:.2f})"
        blocks.append(f"### Example {number}{score}\nTask: {example['task']}\n{render_solution(example)}")
    return "\n\n".join(blocks)


def render_messages(examples: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """The examples as chat turns: the task as the user's message, what worked as the answer."""
    messages = []
    for example in examples:
        messages.append({"role": "user", "content": example["task"]})
        messages.append({"role": "assistant", "content": render_solution(example)})
    return messages


def render_solution(example: dict[str, Any]) -> str:
    """The steps of an example, one line each, then its final answer."""
    lines = ["Steps:" if example["steps"] else "Steps: none (answered directly)"]
    for number, step in enumerate(example["steps"], start=1):
        outcome = step["result"]
        if step["status"] == "error":
            kind = f" ({step['error_type']})" if step.get("error_type") else ""
            outcome = f"error{kind}: {outcome}"
        lines.append(f"{number}. {step['tool']}({as_text(step['arguments'])}) -> {outcome}")
    lines.append(f"Final answer: {example['final_answer']}")
    return "\n".join(lines)
