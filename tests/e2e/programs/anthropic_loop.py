"""A plain anthropic tool loop, as users write it: no trajotel import, no OpenTelemetry code.

    python anthropic_loop.py BASE_URL [--stream]

Prints one line per tool result (``TOOL <id> <json>``) and the final answer (``ANSWER <text>``).
"""

from __future__ import annotations

import json
import sys

import anthropic

TOOLS = [
    {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
    {
        "name": "add",
        "description": "Add two integers.",
        "input_schema": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
    },
]
SYSTEM = "You are a helpful assistant. Use the tools."


def run_tool(name: str, arguments: dict) -> dict:
    if name == "get_weather":
        return {"city": arguments["city"], "forecast": "sunny", "temp_c": 22}
    return {"sum": arguments["a"] + arguments["b"]}


def main(base_url: str, stream: bool) -> None:
    client = anthropic.Anthropic(base_url=base_url, api_key="test-key", max_retries=0)
    messages: list = [{"role": "user", "content": "What is the weather in Paris, and what is 21 + 21?"}]
    for _ in range(5):
        kwargs = {
            "model": "default",
            "max_tokens": 512,
            "system": SYSTEM,
            "tools": TOOLS,
            "messages": messages,
        }
        if stream:
            with client.messages.stream(**kwargs) as events:
                reply = events.get_final_message()
        else:
            reply = client.messages.create(**kwargs)
        messages.append(
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in reply.content]}
        )
        results = []
        for block in reply.content:
            if block.type == "tool_use":
                result = run_tool(block.name, block.input)
                print("TOOL", block.id, json.dumps(result), flush=True)
                results.append(
                    {"type": "tool_result", "tool_use_id": block.id, "content": json.dumps(result)}
                )
        if not results:
            print("ANSWER", "".join(b.text for b in reply.content if b.type == "text"), flush=True)
            return
        messages.append({"role": "user", "content": results})


if __name__ == "__main__":
    main(sys.argv[1], "--stream" in sys.argv)
