"""OpenAI fine-tuning files checked with the openai SDK's own types, plus the rules its guides
state that no type encodes. No offline validator ships with OpenAI (file checks run server-side),
so this is the closest check: every message must validate as ``ChatCompletionMessageParam``,
carry only keys that its role's TypedDict declares (plus ``weight`` on assistant messages, the
fine-tuning extension), every tool as ``ChatCompletionFunctionToolParam``.

    python validators/openai_files.py {sft|dpo|rft} FILE.jsonl

Prints a JSON summary; exits 1 with the reasons when a line is rejected.
"""

from __future__ import annotations

import json
import sys
import typing
from pathlib import Path
from typing import Any

import pydantic
from openai.types.chat import (
    ChatCompletionAssistantMessageParam,
    ChatCompletionDeveloperMessageParam,
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageParam,
    ChatCompletionSystemMessageParam,
    ChatCompletionToolMessageParam,
    ChatCompletionUserMessageParam,
)

MESSAGES = pydantic.TypeAdapter(list[ChatCompletionMessageParam])
TOOLS = pydantic.TypeAdapter(list[ChatCompletionFunctionToolParam])
ROLE_KEYS = {
    "system": set(typing.get_type_hints(ChatCompletionSystemMessageParam)),
    "developer": set(typing.get_type_hints(ChatCompletionDeveloperMessageParam)),
    "user": set(typing.get_type_hints(ChatCompletionUserMessageParam)),
    "assistant": set(typing.get_type_hints(ChatCompletionAssistantMessageParam)) | {"weight"},
    "tool": set(typing.get_type_hints(ChatCompletionToolMessageParam)),
}
MIN_EXAMPLES = 10  # OpenAI's minimum for a training file


class Rejected(ValueError):
    pass


def _force(value: Any) -> Any:
    """Consume what pydantic validates lazily: the SDK types ``Iterable[...]`` fields (content
    parts, tool calls) as validating iterators that check items only when iterated."""
    if isinstance(value, dict):
        return {k: _force(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_force(v) for v in value]
    if isinstance(value, str | bytes | int | float | bool) or value is None:
        return value
    return [_force(v) for v in value]


def check_messages(messages: Any, where: str, roles: set[str] | None = None) -> None:
    """Types, keys per role, weights, JSON arguments and tool-call pairing."""
    try:
        _force(MESSAGES.validate_python(messages))
    except pydantic.ValidationError as exc:
        raise Rejected(f"{where}: not ChatCompletionMessageParam: {exc}") from None
    open_calls: set[str] = set()
    for i, message in enumerate(messages):
        role = message["role"]
        if roles is not None and role not in roles:
            raise Rejected(f"{where}[{i}]: role {role!r} not allowed here ({sorted(roles)})")
        unknown = set(message) - ROLE_KEYS.get(role, set())
        if unknown:
            raise Rejected(f"{where}[{i}]: keys {sorted(unknown)} are not in the {role} message type")
        if "weight" in message and message["weight"] not in (0, 1):
            raise Rejected(f"{where}[{i}]: weight must be 0 or 1")
        for call in message.get("tool_calls") or []:
            try:
                json.loads(call["function"]["arguments"])
            except (ValueError, TypeError):
                raise Rejected(f"{where}[{i}]: tool call arguments are not a JSON string") from None
            open_calls.add(call["id"])
        if role == "tool" and message["tool_call_id"] not in open_calls:
            raise Rejected(f"{where}[{i}]: tool_call_id {message['tool_call_id']!r} answers no earlier call")


def check_tools(line: dict[str, Any], where: str) -> None:
    if "tools" in line:
        try:
            _force(TOOLS.validate_python(line["tools"]))
        except pydantic.ValidationError as exc:
            raise Rejected(f"{where}: tools: {exc}") from None


def check_keys(line: dict[str, Any], allowed: set[str], where: str) -> None:
    if unknown := set(line) - allowed:
        raise Rejected(f"{where}: unknown keys {sorted(unknown)}")


def sft(line: dict[str, Any], where: str) -> None:
    check_keys(line, {"messages", "tools", "parallel_tool_calls"}, where)
    messages = line["messages"]
    check_messages(messages, f"{where}.messages")
    check_tools(line, where)
    if messages[-1]["role"] != "assistant":
        raise Rejected(f"{where}: the last message must be the assistant's")
    if not any(m["role"] == "assistant" and m.get("weight", 1) == 1 for m in messages):
        raise Rejected(f"{where}: no assistant message is trained")


def dpo(line: dict[str, Any], where: str) -> None:
    check_keys(line, {"input", "preferred_output", "non_preferred_output"}, where)
    check_keys(line["input"], {"messages", "tools", "parallel_tool_calls"}, f"{where}.input")
    prompt = line["input"]["messages"]
    check_messages(prompt, f"{where}.input.messages")
    check_tools(line["input"], f"{where}.input")
    for key in ("preferred_output", "non_preferred_output"):
        output = line[key]
        check_messages(prompt + output, f"{where}.{key}")  # the pairing of tool results spans both
        if not output or any(m["role"] not in ("assistant", "tool") for m in output):
            raise Rejected(f"{where}.{key}: must be assistant/tool messages")
        if output[-1]["role"] != "assistant":
            raise Rejected(f"{where}.{key}: must end with an assistant message")
    if line["preferred_output"] == line["non_preferred_output"]:
        raise Rejected(f"{where}: preferred and non-preferred outputs are equal")


def rft(line: dict[str, Any], where: str) -> None:
    # Every key other than messages/tools is free-form (the grader reads it as item.<key>).
    messages = line["messages"]
    check_messages(messages, f"{where}.messages", roles={"developer", "user", "assistant", "tool"})
    check_tools(line, where)
    if messages[-1]["role"] != "user":
        raise Rejected(f"{where}: the prompt must end with the user message the model answers")


CHECKS = {"sft": sft, "dpo": dpo, "rft": rft}


def validate(kind: str, path: Path, min_examples: int = MIN_EXAMPLES) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        raise Rejected(f"{path}: the last line does not end with a newline")
    lines = text.splitlines()
    for n, raw in enumerate(lines, 1):
        try:
            line = json.loads(raw)
        except ValueError as exc:
            raise Rejected(f"line {n}: not JSON: {exc}") from None
        if not isinstance(line, dict):
            raise Rejected(f"line {n}: not a JSON object")
        CHECKS[kind](line, f"line {n}")
    if len(lines) < min_examples:
        raise Rejected(f"{len(lines)} examples; OpenAI requires at least {min_examples}")
    return {"kind": kind, "lines": len(lines)}


def main(argv: list[str]) -> int:
    kind, path = argv
    try:
        print(json.dumps(validate(kind, Path(path))))
    except Rejected as exc:
        print(f"rejected: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
