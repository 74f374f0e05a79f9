"""A plain openai tool loop for the coexistence tests: run under ``opentelemetry-instrument``
with trajotel's instrumentor and another openai instrumentation loaded at the same time.

    OPENAI_BASE_URL=... OPENAI_API_KEY=... opentelemetry-instrument python coexist_openai_loop.py

Only the root span (``trajotel.trajectory``) and the tool spans (``@trajotel.tool``) come from
the agent; every model call's span comes from the instrumentors.
"""

from __future__ import annotations

import json
from typing import Any

import openai

import trajotel

TASK = "What is the weather in Paris, and what is 21 + 21?"
MAX_TURNS = 8


@trajotel.tool
def get_weather(city: str) -> dict[str, Any]:
    """Current weather in a city."""
    return {"city": city, "condition": "sunny", "temperature_c": 22}


@trajotel.tool
def add(a: float, b: float) -> dict[str, Any]:
    """Add two numbers."""
    return {"result": a + b}


TOOLS = {"get_weather": get_weather, "add": add}
TOOL_DEFINITIONS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "add",
            "parameters": {
                "type": "object",
                "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
            },
        },
    },
]


def run(client: openai.OpenAI) -> str:
    messages: list[Any] = [{"role": "user", "content": TASK}]
    for _ in range(MAX_TURNS):
        response = client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, tools=TOOL_DEFINITIONS
        )
        message = response.choices[0].message
        if not message.tool_calls:
            return message.content or ""
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            with trajotel.tool_call(call.id):
                result = TOOLS[call.function.name](**json.loads(call.function.arguments))
            messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)})
    return f"(no answer after {MAX_TURNS} turns)"


def main() -> None:
    with trajotel.trajectory(task=TASK, agent="coexist-agent"):
        answer = run(openai.OpenAI())  # OPENAI_BASE_URL and OPENAI_API_KEY from the environment
    print(f"ANSWER: {answer}")


if __name__ == "__main__":
    main()
