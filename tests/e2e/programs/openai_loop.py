"""A plain openai tool loop, as users write it: no trajotel import, no OpenTelemetry code.

    python openai_loop.py [--stream] [--async]

Reads OPENAI_BASE_URL / OPENAI_API_KEY; prints one line per tool result (``TOOL <id> <json>``)
and the final answer (``ANSWER <text>``).
"""

from __future__ import annotations

import asyncio
import json
import sys

import openai

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "add",
            "description": "Add two integers.",
            "parameters": {
                "type": "object",
                "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                "required": ["a", "b"],
            },
        },
    },
]


def run_tool(name: str, arguments: dict) -> dict:
    if name == "get_weather":
        return {"city": arguments["city"], "forecast": "sunny", "temp_c": 22}
    return {"sum": arguments["a"] + arguments["b"]}


def collect_stream(chunks) -> dict:
    """The assistant message a stream spells out: text and tool calls joined by index."""
    content, calls = "", {}
    for chunk in chunks:
        for choice in chunk.choices:
            content += choice.delta.content or ""
            for delta in choice.delta.tool_calls or []:
                call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                call["id"] = delta.id or call["id"]
                call["name"] += (delta.function.name or "") if delta.function else ""
                call["arguments"] += (delta.function.arguments or "") if delta.function else ""
    message: dict = {"role": "assistant", "content": content or None}
    if calls:
        message["tool_calls"] = [
            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for _, c in sorted(calls.items())
        ]
    return message


def step(messages: list, message: dict) -> bool:
    """Append the reply and its tool results; True when the model is done."""
    messages.append(message)
    for call in message.get("tool_calls") or []:
        result = run_tool(call["function"]["name"], json.loads(call["function"]["arguments"]))
        print("TOOL", call["id"], json.dumps(result), flush=True)
        messages.append({"role": "tool", "tool_call_id": call["id"], "content": json.dumps(result)})
    if not message.get("tool_calls"):
        print("ANSWER", message["content"], flush=True)
        return True
    return False


def first_messages() -> list:
    return [
        {"role": "system", "content": "You are a helpful assistant. Use the tools."},
        {"role": "user", "content": "What is the weather in Paris, and what is 21 + 21?"},
    ]


def main_sync(stream: bool) -> None:
    client = openai.OpenAI(max_retries=0)
    messages = first_messages()
    for _ in range(5):
        if stream:
            chunks = client.chat.completions.create(
                model="default",
                messages=messages,
                tools=TOOLS,
                stream=True,
                stream_options={"include_usage": True},
            )
            message = collect_stream(chunks)
        else:
            reply = client.chat.completions.create(model="default", messages=messages, tools=TOOLS)
            message = reply.choices[0].message.model_dump(exclude_none=True, exclude={"refusal"})
        if step(messages, message):
            return


async def main_async(stream: bool) -> None:
    client = openai.AsyncOpenAI(max_retries=0)
    messages = first_messages()
    for _ in range(5):
        if stream:
            chunks = await client.chat.completions.create(
                model="default",
                messages=messages,
                tools=TOOLS,
                stream=True,
                stream_options={"include_usage": True},
            )
            message = collect_stream([chunk async for chunk in chunks])
        else:
            reply = await client.chat.completions.create(model="default", messages=messages, tools=TOOLS)
            message = reply.choices[0].message.model_dump(exclude_none=True, exclude={"refusal"})
        if step(messages, message):
            return


if __name__ == "__main__":
    if "--async" in sys.argv:
        asyncio.run(main_async("--stream" in sys.argv))
    else:
        main_sync("--stream" in sys.argv)
