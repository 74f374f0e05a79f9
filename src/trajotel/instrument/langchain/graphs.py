"""The wrappers of LangGraph's ``Pregel.invoke`` / ``ainvoke`` / ``stream`` / ``astream``: the
outermost graph call of a run is an ``invoke_agent {graph name}`` span (see
``trajotel.instrument.frameworks`` for when a call starts a run and when it joins one).

The task is the text of the last user message of the input (``{"messages": [...]}`` with
LangChain messages, ``(role, text)`` tuples, role dicts or strings), or the input itself when it
is a string; otherwise no task is recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.trace import TracerProvider

from trajotel.instrument import frameworks, genai

_USER_ROLES = ("user", "human")


def _role_and_text(message: Any) -> tuple[Any, Any]:
    if isinstance(message, str):
        return "user", message
    if isinstance(message, Sequence) and len(message) == 2:
        return message[0], message[1]
    if isinstance(message, Mapping):
        return message.get("role"), message.get("content")
    return getattr(message, "type", None), getattr(message, "content", None)


def _text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content blocks
        texts = [genai.field(block, "text") if not isinstance(block, str) else block for block in content]
        joined = "".join(t for t in texts if isinstance(t, str))
        return joined or None
    return None


def task_of(graph_input: Any) -> str | None:
    """The user's request in a graph input, when it can be told."""
    if isinstance(graph_input, str):
        return graph_input
    messages = graph_input.get("messages") if isinstance(graph_input, Mapping) else None
    if isinstance(messages, str):
        return messages
    for message in reversed(messages if isinstance(messages, Sequence) else []):
        role, content = _role_and_text(message)
        if role in _USER_ROLES:
            return _text(content)
    return None


def _start_run(graph: Any, args: tuple[Any, ...], kwargs: dict[str, Any], tracer_provider: Any) -> Any:
    graph_input = args[0] if args else kwargs.get("input")
    name = getattr(graph, "name", None)
    task = genai.safe_call(task_of, graph_input)
    return frameworks.start_agent_run(name if isinstance(name, str) else None, task, tracer_provider)


def graph_call(tracer_provider: TracerProvider | None) -> Callable[..., Any]:
    """A wrapt wrapper for ``Pregel.invoke``, ``stream`` and ``astream`` (the generators carry
    the run until they finish)."""

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]):
        run = genai.safe_call(_start_run, instance, args, kwargs, tracer_provider)
        if run is None:
            return wrapped(*args, **kwargs)
        return frameworks.run_agent(run, wrapped, args, kwargs)

    return wrapper


def async_graph_call(tracer_provider: TracerProvider | None) -> Callable[..., Any]:
    """A wrapt wrapper for ``Pregel.ainvoke``."""

    async def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ):
        run = genai.safe_call(_start_run, instance, args, kwargs, tracer_provider)
        if run is None:
            return await wrapped(*args, **kwargs)
        return await frameworks.run_agent_async(run, wrapped, args, kwargs)

    return wrapper
