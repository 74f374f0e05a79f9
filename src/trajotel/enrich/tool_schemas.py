"""The learning functions as tools an agent can call (docs/learning.md): one ``ToolSpec`` per
tool (its description and its parameters' JSON schemas, written once), from which the OpenAI
and Anthropic tool definitions and the MCP server's tools are all derived; and ``call_tool``,
which runs a tool call from an agent loop and always answers with JSON text, errors included.

    tools = tool_schemas("openai")        # or "anthropic"; pass as tools=... to the SDK
    ...
    result = call_tool(call.function.name, call.function.arguments)   # a JSON string
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from trajotel.client import Client
from trajotel.enrich.excerpts import Limits
from trajotel.enrich.learn import (
    OUTCOMES,
    analyze_failure_patterns,
    get_successful_examples,
    search_trajectories,
)
from trajotel.errors import InvalidInputError, TrajotelError

log = logging.getLogger(__name__)

PROVIDERS = ("openai", "anthropic", "mcp")
# Parameters for Python callers only (not JSON): never in a schema, given by call_tool's caller.
PLUMBING = ("client", "limits")


@dataclass(frozen=True)
class ToolSpec:
    """One tool: its function, its description and each parameter's JSON schema (with its own
    description). Which parameters are required, and their defaults, come from the function."""

    function: Callable[..., Any]
    description: str
    parameters: Mapping[str, Mapping[str, Any]]

    @property
    def name(self) -> str:
        return self.function.__name__

    def input_schema(self) -> dict[str, Any]:
        signature = inspect.signature(self.function).parameters
        properties: dict[str, Any] = {}
        required = []
        for name, schema in self.parameters.items():
            default = signature[name].default
            properties[name] = dict(schema)
            if default is inspect.Parameter.empty:
                required.append(name)
            elif default is not None:
                properties[name]["default"] = default
        return {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        }


_SCORE = {"type": "number", "minimum": 0, "maximum": 1}
_AGENT = {"type": "string", "description": "only runs of this agent (its name)"}

TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        search_trajectories,
        "Search the past runs of agents (trajectories recorded by trajotel) by what they were about. "
        "Returns the best matches first, each with its id, task, outcome (success, partial, failure or "
        "unknown), quality score in [0, 1] and a short summary of what happened. Use max_score (say 0.4) "
        "to find runs that went badly, min_score (say 0.7) for runs that went well.",
        {
            "query": {
                "type": "string",
                "description": "what to look for: words of a task, an error message, a tool name",
            },
            "k": {"type": "integer", "minimum": 1, "description": "how many runs to return"},
            "min_score": {**_SCORE, "description": "only runs whose quality score is at least this"},
            "max_score": {**_SCORE, "description": "only runs whose quality score is at most this"},
            "outcome": {
                "type": "string",
                "enum": list(OUTCOMES),
                "description": "only runs with this outcome",
            },
            "agent": _AGENT,
        },
    ),
    ToolSpec(
        get_successful_examples,
        "Find the past runs most similar to a task that succeeded (outcome success, or a quality score "
        "of at least min_score) and show how they did it: the task, every tool call in order (tool, "
        "arguments, an excerpt of the result), the final answer and the score. Call it before starting "
        "a task to reuse an approach that worked.",
        {
            "task": {"type": "string", "description": "the task at hand, in words"},
            "k": {"type": "integer", "minimum": 1, "description": "how many examples to return"},
            "agent": _AGENT,
            "min_score": {**_SCORE, "description": "a run scoring at least this counts as successful"},
        },
    ),
    ToolSpec(
        analyze_failure_patterns,
        "Find past runs that failed or scored low - those most similar to a task, or without a task the "
        "most recent failures - and group what went wrong: failing tools and their error types, failed "
        "model calls, answers cut off by the token limit, the reasons runs were judged failed. Returns "
        "each pattern with how many runs show it, their share, example run ids and an excerpt, plus a "
        "short digest. Call it to avoid mistakes made before.",
        {
            "task": {
                "type": "string",
                "description": "the task at hand; leave out for the most recent failures",
            },
            "agent": _AGENT,
            "k": {"type": "integer", "minimum": 1, "description": "how many failed runs to look at"},
            "max_score": {
                **_SCORE,
                "description": "with a task: a run scoring at most this counts as failed",
            },
        },
    ),
)
_BY_NAME = {spec.name: spec for spec in TOOLS}


def tool_schemas(provider: str = "openai") -> list[dict[str, Any]]:
    """The tool definitions for ``provider``: "openai" (``{"type": "function", "function":
    {"name", "description", "parameters"}}``), "anthropic" (``{"name", "description",
    "input_schema"}``) or "mcp" (``{"name", "description", "inputSchema"}``)."""
    schema_key = {"openai": "parameters", "anthropic": "input_schema", "mcp": "inputSchema"}.get(provider)
    if schema_key is not None:
        tools = [{"name": s.name, "description": s.description, schema_key: s.input_schema()} for s in TOOLS]
        return [{"type": "function", "function": t} for t in tools] if provider == "openai" else tools
    raise InvalidInputError(f"unknown tool provider {provider!r}", hint=f"use one of {', '.join(PROVIDERS)}")


def call_tool(
    name: str,
    arguments: Mapping[str, Any] | str | None = None,
    *,
    client: Client | None = None,
    limits: Limits | None = None,
) -> str:
    """Run the tool ``name`` with the model's ``arguments`` (a dict or its JSON text) and answer
    with JSON text. Never raises: a bad call, a refused request or an unreachable collector
    answers ``{"error": ..., "hint": ..., "tool": ...}`` so the agent can read it and go on."""
    return answer_tool(name, arguments, client=client, limits=limits)[0]


def answer_tool(
    name: str,
    arguments: Mapping[str, Any] | str | None = None,
    *,
    client: Client | None = None,
    limits: Limits | None = None,
) -> tuple[str, bool]:
    """``call_tool``'s answer and whether it is an error (MCP flags those)."""
    try:
        spec = _BY_NAME.get(name)
        if spec is None:
            raise InvalidInputError(f"unknown tool {name!r}", hint=f"tools: {', '.join(_BY_NAME)}")
        result = spec.function(**_checked(spec, arguments), client=client, limits=limits)
        return json.dumps(result, ensure_ascii=False, default=str), False
    except TrajotelError as exc:
        return _error(name, str(exc), exc.hint), True
    except Exception as exc:  # the agent's loop must not die of a tool: say what happened instead
        log.exception("trajotel tool %s failed", name)
        return _error(name, f"{type(exc).__name__}: {exc}", None), True


def _error(tool: str, message: str, hint: str | None) -> str:
    answer = {"error": message, "tool": tool}
    if hint:
        answer["hint"] = hint
    return json.dumps(answer, ensure_ascii=False)


_JSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
}


def _checked(spec: ToolSpec, arguments: Mapping[str, Any] | str | None) -> dict[str, Any]:
    """The arguments as keyword arguments, checked against the tool's schema."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except ValueError as exc:
            raise InvalidInputError(f"{spec.name}: the arguments are not JSON: {exc}") from None
    arguments = dict(arguments or {}) if isinstance(arguments, Mapping | None) else arguments
    if not isinstance(arguments, dict):
        raise InvalidInputError(f"{spec.name}: the arguments must be a JSON object")
    schema = spec.input_schema()
    allowed = ", ".join(schema["properties"])
    for name, value in arguments.items():
        prop = schema["properties"].get(name)
        if prop is None:
            raise InvalidInputError(f"{spec.name}: unknown argument {name!r}", hint=f"arguments: {allowed}")
        if value is None and name not in schema["required"]:
            continue  # a model may send null for "not given"
        if isinstance(value, float) and prop["type"] == "integer" and value.is_integer():
            value = arguments[name] = int(value)
        if not _JSON_TYPES[prop["type"]](value):
            raise InvalidInputError(f"{spec.name}: {name!r} must be a JSON {prop['type']}, got {value!r}")
        if "enum" in prop and value not in prop["enum"]:
            raise InvalidInputError(f"{spec.name}: {name!r} must be one of {', '.join(prop['enum'])}")
    missing = [name for name in schema["required"] if arguments.get(name) is None]
    if missing:
        raise InvalidInputError(f"{spec.name}: missing argument {missing[0]!r}", hint=f"arguments: {allowed}")
    return arguments
