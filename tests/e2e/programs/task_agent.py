"""A support agent: one tool loop per task inside ``trajotel.trajectory`` (the task is what
search and judging key on); no OpenTelemetry code, run under ``opentelemetry-instrument``.

    python task_agent.py MODEL TASK [MODEL TASK ...]

MODEL is a scenario of the fake LLM server ("default" answers after two tool calls,
"fake-error" fails the first call, which fails the run). Prints ``DONE <task>`` or
``FAILED <task>`` per task.
"""

from __future__ import annotations

import json
import sys

import openai

import trajotel

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": {}, "additionalProperties": True},
        },
    }
    for name, description in (("get_weather", "Current weather."), ("add", "Add two integers."))
]


def run(client: openai.OpenAI, model: str, task: str) -> None:
    messages: list = [{"role": "user", "content": task}]
    with trajotel.trajectory(task=task, agent="support-agent"):
        for _ in range(5):
            reply = client.chat.completions.create(model=model, messages=messages, tools=TOOLS)
            message = reply.choices[0].message
            messages.append(message.model_dump(exclude_none=True, exclude={"refusal"}))
            for call in message.tool_calls or []:
                result = {"ok": True, "tool": call.function.name}
                messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)})
            if not message.tool_calls:
                return


def main(args: list[str]) -> None:
    client = openai.OpenAI(max_retries=0)
    for model, task in zip(args[::2], args[1::2], strict=True):
        try:
            run(client, model, task)
            print("DONE", task, flush=True)
        except openai.APIError:
            print("FAILED", task, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
