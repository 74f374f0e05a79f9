"""Trae Agent trajectory files checked against the shape trae-agent's ``TrajectoryRecorder``
writes (trae_agent/utils/trajectory_recorder.py, with ``LLMMessage``, ``ToolCall``,
``ToolResult`` and ``LLMUsage`` from its llm_basics / tools.base). trae-agent is not published
on PyPI and ships no reader, so its writer's field names and types, as a JSON Schema, are the
consumer check here.

    python trae_schema.py FILE.json|FILE.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import jsonschema

STR_OR_NULL = {"type": ["string", "null"]}
TOOL_CALL = {
    "type": "object",
    "required": ["call_id", "name", "arguments", "id"],
    "additionalProperties": False,
    "properties": {
        "call_id": {"type": "string"},
        "name": {"type": "string"},
        "arguments": {"type": "object"},
        "id": STR_OR_NULL,
    },
}
TOOL_RESULT = {
    "type": "object",
    "required": ["call_id", "success", "result", "error", "id"],
    "additionalProperties": False,
    "properties": {
        "call_id": {"type": "string"},
        "success": {"type": "boolean"},
        "result": STR_OR_NULL,
        "error": STR_OR_NULL,
        "id": STR_OR_NULL,
    },
}
MESSAGE = {
    "type": "object",
    "required": ["role", "content"],
    "additionalProperties": False,
    "properties": {
        "role": {"enum": ["system", "user", "assistant", "tool"]},
        "content": STR_OR_NULL,
        "tool_call": TOOL_CALL,
        "tool_result": TOOL_RESULT,
    },
}
INT_OR_NULL = {"type": ["integer", "null"]}
RESPONSE = {
    "type": "object",
    "required": ["content", "model", "finish_reason", "usage", "tool_calls"],
    "additionalProperties": False,
    "properties": {
        "content": {"type": "string"},
        "model": STR_OR_NULL,
        "finish_reason": STR_OR_NULL,
        "usage": {
            "type": ["object", "null"],
            "required": ["input_tokens", "output_tokens"],
            "properties": {
                "input_tokens": INT_OR_NULL,
                "output_tokens": INT_OR_NULL,
                "cache_creation_input_tokens": INT_OR_NULL,
                "cache_read_input_tokens": INT_OR_NULL,
                "reasoning_tokens": INT_OR_NULL,
            },
        },
        "tool_calls": {"type": ["array", "null"], "items": TOOL_CALL},
    },
}
TRAJECTORY = {
    "type": "object",
    "required": [
        "task", "start_time", "end_time", "provider", "model", "max_steps",
        "llm_interactions", "agent_steps", "success", "final_result", "execution_time",
    ],
    "additionalProperties": False,
    "properties": {
        "task": {"type": "string"},
        "start_time": {"type": "string", "format": "date-time"},
        "end_time": {"type": "string", "format": "date-time"},
        "provider": {"type": "string"},
        "model": {"type": "string"},
        "max_steps": {"type": "integer"},
        "llm_interactions": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "timestamp", "provider", "model", "input_messages", "response", "tools_available"
                ],
                "additionalProperties": False,
                "properties": {
                    "timestamp": {"type": "string", "format": "date-time"},
                    "provider": {"type": "string"},
                    "model": {"type": "string"},
                    "input_messages": {"type": "array", "items": MESSAGE},
                    "response": RESPONSE,
                    "tools_available": {"type": ["array", "null"], "items": {"type": "string"}},
                },
            },
        },
        "agent_steps": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "step_number", "timestamp", "state", "llm_messages", "llm_response",
                    "tool_calls", "tool_results", "reflection", "error",
                ],
                "additionalProperties": False,
                "properties": {
                    "step_number": {"type": "integer"},
                    "timestamp": {"type": "string", "format": "date-time"},
                    "state": {"type": "string"},
                    "llm_messages": {"type": ["array", "null"], "items": MESSAGE},
                    "llm_response": {"oneOf": [RESPONSE, {"type": "null"}]},
                    "tool_calls": {"type": ["array", "null"], "items": TOOL_CALL},
                    "tool_results": {"type": ["array", "null"], "items": TOOL_RESULT},
                    "reflection": STR_OR_NULL,
                    "error": STR_OR_NULL,
                },
            },
        },
        "success": {"type": "boolean"},
        "final_result": STR_OR_NULL,
        "execution_time": {"type": "number"},
    },
}  # fmt: skip


class Rejected(ValueError):
    pass


def validate_document(document: Any, where: str = "document") -> None:
    checker = jsonschema.Draft202012Validator(TRAJECTORY, format_checker=jsonschema.FormatChecker())
    errors = sorted(checker.iter_errors(document), key=lambda e: list(e.path))
    if errors:
        raise Rejected(f"{where}: {errors[0].json_path}: {errors[0].message}")
    # A tool result answers a call made before it (Trae pairs them by call_id).
    for n, interaction in enumerate(document["llm_interactions"]):
        calls: set[str] = set()
        for message in interaction["input_messages"]:
            if "tool_call" in message:
                calls.add(message["tool_call"]["call_id"])
            if "tool_result" in message and message["tool_result"]["call_id"] not in calls:
                raise Rejected(f"{where}: interaction {n}: a tool result answers no earlier call")


def validate(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        documents = [json.loads(line) for line in text.splitlines()]
    else:  # one document, as trae-agent writes it, or an array of them (the export's .json)
        loaded = json.loads(text)
        documents = loaded if isinstance(loaded, list) else [loaded]
    for n, document in enumerate(documents, 1):
        validate_document(document, f"trajectory {n}")
    return {"trajectories": len(documents)}


if __name__ == "__main__":
    try:
        print(json.dumps(validate(Path(sys.argv[1]))))
    except Rejected as exc:
        print(f"rejected: {exc}", file=sys.stderr)
        sys.exit(1)
