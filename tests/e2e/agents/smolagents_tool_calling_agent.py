"""A smolagents ToolCallingAgent with OpenAIServerModel: plain user code, no tracing in it.

Run under ``opentelemetry-instrument``; OPENAI_BASE_URL points at the model server, whose
``fake-smol`` scenario ends with a ``final_answer`` call. Prints each tool's return as
``TOOL_RESULT <json>`` (the final answer last, as final_answer returns it) and ``ANSWER <text>``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from smolagents import OpenAIServerModel, ToolCallingAgent, tool

TASK = "What is the weather in Paris, and what is 21 + 21?"


def report(value: Any) -> Any:
    print("TOOL_RESULT", json.dumps(value), flush=True)
    return value


@tool
def get_weather(city: str) -> str:
    """Current weather in a city.

    Args:
        city: The city.
    """
    return report(f"sunny, 22 C in {city}")


@tool
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: The first integer.
        b: The second integer.
    """
    return report(a + b)


def main() -> None:
    model = OpenAIServerModel(
        model_id="fake-smol", api_base=os.environ["OPENAI_BASE_URL"], api_key=os.environ["OPENAI_API_KEY"]
    )
    agent = ToolCallingAgent(tools=[get_weather, add], model=model, verbosity_level=0)
    answer = agent.run(TASK)
    report(str(answer))
    print("ANSWER", answer, flush=True)


if __name__ == "__main__":
    main()
