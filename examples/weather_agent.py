"""A small tool-using agent on the plain openai SDK, traced with the plain OpenTelemetry API.

    OPENAI_BASE_URL=... OPENAI_API_KEY=... opentelemetry-instrument python examples/weather_agent.py

The agent only opens its own spans (``invoke_agent`` and ``execute_tool``); the ``chat`` span of
every model call comes from trajotel's openai instrumentor, which ``opentelemetry-instrument``
loads. Without it the OpenTelemetry API is a no-op and the agent runs the same.
"""

from __future__ import annotations

import json
import os
from typing import Any

import openai
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

AGENT_NAME = "weather-agent"
TASK = "What is the weather in Paris, and what is 21 + 21?"
MAX_TURNS = 8

tracer = trace.get_tracer("weather-agent")


def get_weather(city: str) -> dict[str, Any]:
    """A stand-in for a weather API."""
    return {"city": city, "condition": "sunny", "temperature_c": 22}


def add(a: float, b: float) -> dict[str, Any]:
    return {"result": a + b}


TOOLS = {"get_weather": get_weather, "add": add}

TOOL_DEFINITIONS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "description": "City name"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "add",
            "description": "Add two numbers.",
            "parameters": {
                "type": "object",
                "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                "required": ["a", "b"],
            },
        },
    },
]


def execute_tool(call: Any) -> str:
    """Run one tool call inside an ``execute_tool`` span; the result goes back to the model as JSON."""
    name = call.function.name
    with tracer.start_as_current_span(f"execute_tool {name}", kind=SpanKind.INTERNAL) as span:
        span.set_attributes(
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": name,
                "gen_ai.tool.call.id": call.id,
                "gen_ai.tool.type": "function",
                "gen_ai.tool.call.arguments": call.function.arguments,
            }
        )
        try:
            result = TOOLS[name](**json.loads(call.function.arguments))
        except Exception as exc:  # the model gets the error and may recover
            span.set_status(Status(StatusCode.ERROR, str(exc)))
            span.set_attribute("error.type", type(exc).__qualname__)
            result = {"error": f"{type(exc).__name__}: {exc}"}
        result_json = json.dumps(result)
        span.set_attribute("gen_ai.tool.call.result", result_json)
        return result_json


def run_agent(client: openai.OpenAI, model: str, task: str) -> str:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a helpful assistant. Use the tools to answer."},
        {"role": "user", "content": task},
    ]
    for _ in range(MAX_TURNS):
        response = client.chat.completions.create(model=model, messages=messages, tools=TOOL_DEFINITIONS)
        message = response.choices[0].message
        if not message.tool_calls:
            return message.content or ""
        messages.append(
            {
                "role": "assistant",
                "content": message.content,
                "tool_calls": [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.function.name, "arguments": call.function.arguments},
                    }
                    for call in message.tool_calls
                ],
            }
        )
        for call in message.tool_calls:
            messages.append({"role": "tool", "tool_call_id": call.id, "content": execute_tool(call)})
    return f"(no answer after {MAX_TURNS} turns)"


def main() -> None:
    client = openai.OpenAI()  # OPENAI_BASE_URL and OPENAI_API_KEY come from the environment
    model = os.environ.get("AGENT_MODEL", "gpt-4o-mini")
    attributes = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": AGENT_NAME,
        "trajotel.task": TASK,  # trajotel.semconv.TRAJOTEL_TASK; the example stays trajotel-free
    }
    with tracer.start_as_current_span(
        f"invoke_agent {AGENT_NAME}", kind=SpanKind.INTERNAL, attributes=attributes
    ):
        answer = run_agent(client, model, TASK)
    print(f"ANSWER: {answer}")


if __name__ == "__main__":
    main()
