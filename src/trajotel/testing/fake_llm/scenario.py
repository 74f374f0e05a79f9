"""Scenarios: scripted model turns, shared by every API the fake server speaks.

The server is stateless. Each API mints tool-call ids that carry the step that produced them
(``call_fk{step}x{n}_{hex}`` for OpenAI formats, ``toolu_fk{step}x{n}_{hex}`` for Anthropic) and
picks the step of a request as one past the highest step whose ids the raw request body already
carries. An id scan works for every way clients send history back (chat ``tool_call_id``,
Responses ``call_id``, Anthropic ``tool_use_id``, smolagents' assistant text), and lets any number
of agents share one server.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

_MINTED_ID = re.compile(r"(?:call|toolu)_fk(\d+)x\d+_[0-9a-f]+")


@dataclass(frozen=True)
class Step:
    """One scripted model turn: a text answer, tool calls, or an HTTP error."""

    content: str | None = None
    tool_calls: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    reasoning: str | None = None  # sent as message.reasoning_content, as vLLM/DeepSeek do
    finish_reason: str | None = None  # default: "tool_calls" with tool calls, else "stop"
    status: int = 200
    error: str = "The fake LLM was scripted to fail."
    # Taken for any request whose body contains this text, before the step-by-step script (a
    # fake judge that answers by what the judged run shows); None: an ordinary step.
    when: str | None = None

    def matching(self, text: str) -> Step:
        """This step, for requests that contain ``text``."""
        return replace(self, when=text)

    @classmethod
    def text(cls, content: str) -> Step:
        return cls(content=content)

    @classmethod
    def tool(cls, name: str, arguments: Mapping[str, Any]) -> Step:
        return cls(tool_calls=((name, arguments),))

    @classmethod
    def fail(cls, status: int = 500, message: str = "The fake LLM was scripted to fail.") -> Step:
        return cls(status=status, error=message)


DEFAULT_SCENARIOS: dict[str, list[Step]] = {
    "default": [
        Step.tool("get_weather", {"city": "Paris"}),
        Step.tool("add", {"a": 21, "b": 21}),
        Step.text("It is sunny and 22 C in Paris, and 21 + 21 = 42."),
    ],
    "fake-error": [Step.fail(500)],
    "fake-chat": [Step.text("Hello! I am a fake LLM.")],
}


def step_index(body: str) -> int:
    """The step of a request: one past the highest step whose minted ids it already carries."""
    steps = [int(m.group(1)) for m in _MINTED_ID.finditer(body)]
    return max(steps) + 1 if steps else 0


def pick_step(
    scenarios: Mapping[str, Sequence[Step]], request: Mapping[str, Any], raw: str
) -> tuple[Step, int]:
    """The scripted step for a request (scenario by model name, unknown names get "default")."""
    steps = scenarios.get(str(request.get("model")), scenarios["default"])
    for step in steps:
        if step.when is not None and step.when in raw:
            return step, step_index(raw)
    steps = [step for step in steps if step.when is None]
    index = min(step_index(raw), len(steps) - 1)
    return steps[index], index


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def produced_text(step: Step) -> str:
    """What a step generates, for token counts: its text plus its tool arguments."""
    return (step.content or "") + "".join(compact(arguments) for _, arguments in step.tool_calls)


def pieces(text: str) -> list[str]:
    """Stream pieces (and logprob tokens): whitespace-separated words with their trailing space."""
    return re.findall(r"\S+\s*|\s+", text)
