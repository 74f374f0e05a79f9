"""OpenTelemetry instrumentation of smolagents: agent runs and the tool calls of ToolCallingAgent.

    from trajotel.instrument.smolagents import SmolagentsInstrumentor
    SmolagentsInstrumentor().instrument(tracer_provider=provider)  # or opentelemetry-instrument

``MultiStepAgent.run`` is an ``invoke_agent {agent name or class}`` span with the task, unless an
agent span is already current (see ``trajotel.instrument.frameworks``); ``run(stream=True)``
keeps it open until its generator finishes. A managed agent runs inside its parent's tool call,
so it becomes a child ``invoke_agent`` span: a sub-agent.

``ToolCallingAgent.execute_tool_call`` (tools, ``final_answer`` and managed agents alike) is an
``execute_tool {name}`` span carrying the model's tool call id: smolagents does not pass the id
down, so ``process_tool_calls`` notes the calls of the model's message and each execution claims
the one with its name and arguments. CodeAgent's tool calls (made by generated code, with no
call id) are not recorded.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.trace import TracerProvider

from trajotel import semconv as sc
from trajotel.instrument import api, frameworks, genai

__all__ = ["SmolagentsInstrumentor"]

logger = logging.getLogger(__name__)

_AGENTS_MODULE = "smolagents.agents"


def agent_name(agent: Any) -> str:
    name = getattr(agent, "name", None)
    return name if isinstance(name, str) and name else type(agent).__name__


class PendingCalls:
    """The model's tool calls an agent is about to execute, by agent, until each is claimed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # parallel tool calls claim from worker threads
        self._by_agent: weakref.WeakKeyDictionary[Any, list[tuple[str, Any, str]]] = (
            weakref.WeakKeyDictionary()
        )

    def note(self, agent: Any, chat_message: Any) -> None:
        calls = []
        for call in genai.field(chat_message, "tool_calls") or []:
            function = genai.field(call, "function")
            calls.append((genai.field(function, "name"), genai.field(function, "arguments"), call.id))
        with self._lock:
            self._by_agent[agent] = calls

    def claim(self, agent: Any, name: str, arguments: Any) -> str | None:
        with self._lock:
            calls = self._by_agent.get(agent) or []
            # smolagents passes the very arguments object of the call (or {} for none).
            for same in (lambda a: a is arguments, lambda a: a == arguments or (not a and not arguments)):
                for index, (call_name, call_arguments, call_id) in enumerate(calls):
                    if call_name == name and same(call_arguments):
                        del calls[index]
                        return call_id
        return None


def process_tool_calls(pending: PendingCalls) -> Callable[..., Any]:
    """A wrapt wrapper for ``ToolCallingAgent.process_tool_calls``: notes the calls' ids."""

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]):
        chat_message = args[0] if args else kwargs.get("chat_message")
        genai.safe_call(pending.note, instance, chat_message)
        return wrapped(*args, **kwargs)

    return wrapper


def _start_tool(
    agent: Any, args: tuple[Any, ...], kwargs: dict[str, Any], pending: PendingCalls, provider: Any
) -> api.ToolSpan | None:
    name = args[0] if args else kwargs.get("tool_name")
    arguments = args[1] if len(args) > 1 else kwargs.get("arguments")
    tool = ({**(agent.tools or {}), **(agent.managed_agents or {})}).get(name)
    description = getattr(tool, "description", None)
    return api.start_tool_span(
        str(name),
        tracer_provider=provider,
        description=description if isinstance(description, str) else None,
        call_id=pending.claim(agent, name, arguments),
        arguments=lambda: genai.to_json(arguments),
        attributes={sc.GEN_AI_AGENT_NAME: agent_name(agent)},
    )


def execute_tool_call(pending: PendingCalls, tracer_provider: TracerProvider | None) -> Callable[..., Any]:
    """A wrapt wrapper for ``ToolCallingAgent.execute_tool_call``."""

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]):
        tool_span = genai.safe_call(_start_tool, instance, args, kwargs, pending, tracer_provider)
        if tool_span is None:
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            tool_span.finish(exc=exc)
            raise
        tool_span.finish(result)
        return result

    return wrapper


def agent_run(tracer_provider: TracerProvider | None) -> Callable[..., Any]:
    """A wrapt wrapper for ``MultiStepAgent.run``."""

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]):
        task = args[0] if args else kwargs.get("task")
        run = genai.safe_call(
            frameworks.start_agent_run,
            agent_name(instance),
            task if isinstance(task, str) else None,
            tracer_provider,
        )
        if run is None:
            return wrapped(*args, **kwargs)
        return frameworks.run_agent(run, wrapped, args, kwargs)

    return wrapper


class SmolagentsInstrumentor(BaseInstrumentor):
    """Records smolagents runs (``invoke_agent``) and ToolCallingAgent tool calls (``execute_tool``)."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("smolagents >= 1.0",)

    def _instrument(self, **kwargs: Any) -> None:
        try:
            import wrapt

            provider = kwargs.get("tracer_provider")
            pending = PendingCalls()
            wrapt.wrap_function_wrapper(_AGENTS_MODULE, "MultiStepAgent.run", agent_run(provider))
            wrapt.wrap_function_wrapper(
                _AGENTS_MODULE, "ToolCallingAgent.process_tool_calls", process_tool_calls(pending)
            )
            wrapt.wrap_function_wrapper(
                _AGENTS_MODULE, "ToolCallingAgent.execute_tool_call", execute_tool_call(pending, provider)
            )
        except Exception:
            # A broken instrumentation must not stop the agent (or opentelemetry-instrument).
            logger.warning("trajotel: could not instrument smolagents", exc_info=True)

    def _uninstrument(self, **kwargs: Any) -> None:
        try:
            from smolagents.agents import MultiStepAgent, ToolCallingAgent

            unwrap(MultiStepAgent, "run")
            unwrap(ToolCallingAgent, "process_tool_calls")
            unwrap(ToolCallingAgent, "execute_tool_call")
        except Exception:
            logger.warning("trajotel: could not uninstrument smolagents", exc_info=True)
