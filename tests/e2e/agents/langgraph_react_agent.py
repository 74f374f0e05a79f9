"""A LangGraph ReAct agent (create_react_agent + ChatOpenAI): plain user code, no tracing in it.

Run under ``opentelemetry-instrument``; OPENAI_BASE_URL points at the model server. ``--stream``
streams the graph (``graph.stream``) and the model (``ChatOpenAI(streaming=True)``).
Prints each tool's return as ``TOOL_RESULT <json>`` and the answer as ``ANSWER <text>``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.prebuilt import create_react_agent

TASK = "What is the weather in Paris, and what is 21 + 21?"


def report(value: Any) -> Any:
    print("TOOL_RESULT", json.dumps(value), flush=True)
    return value


@tool
def get_weather(city: str) -> dict[str, Any]:
    """Current weather in a city."""
    return report({"city": city, "sky": "sunny", "celsius": 22})


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return report(a + b)


def main() -> None:
    streaming = "--stream" in sys.argv
    model = ChatOpenAI(
        model="gpt-4o-mini",
        base_url=os.environ["OPENAI_BASE_URL"],
        api_key=os.environ["OPENAI_API_KEY"],
        max_retries=0,
        streaming=streaming,
    )
    agent = create_react_agent(model, [get_weather, add], name="weather-agent")
    request = {"messages": [("user", TASK)]}
    if streaming:
        states = list(agent.stream(request, stream_mode="values"))  # the last one is the final state
        state = states[-1]
    else:
        state = agent.invoke(request)
    print("ANSWER", state["messages"][-1].content, flush=True)


if __name__ == "__main__":
    main()
