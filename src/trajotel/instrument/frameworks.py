"""What trajotel's agent-framework instrumentors (LangGraph, smolagents) share: the agent run.

A framework's outermost agent call becomes an ``invoke_agent {agent}`` span built by the same
``TrajectoryContext`` as ``trajotel.trajectory()``, so a run recorded with no code change is
one trace, hence one trajectory, and ``trajotel.reward()`` / ``outcome()`` work inside it.

A run starts only when no agent span is current: a call made inside ``trajotel.trajectory()``,
inside another library's ``invoke_agent`` span, or inside the same framework's run (LangGraph
subgraphs, ``invoke`` calling ``stream``) belongs to that run. A call made inside a tool
(current span ``execute_tool``) is a sub-agent: a child ``invoke_agent`` span.

Runs that return a generator (LangGraph ``stream``/``astream``, smolagents ``run(stream=True)``)
stay open until the generator is exhausted, fails, is closed or is collected; the run is current
only while the framework computes a step, never in the caller's code between steps.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import TracerProvider

from trajotel import semconv as sc
from trajotel.instrument import api
from trajotel.instrument.genai import safe_call

__all__ = ["agent_span_is_current", "run_agent", "run_agent_async", "start_agent_run"]


def agent_span_is_current() -> bool:
    """Whether the current span is an ``invoke_agent`` span (trajotel's or any library's)."""
    span = trace.get_current_span()
    current = api.current_trajectory()
    if current is not None and current.span is span:
        return True
    # SDK spans expose their attributes; a span we cannot read is not known to be an agent.
    attributes = getattr(span, "attributes", None)
    return isinstance(attributes, Mapping) and attributes.get(sc.GEN_AI_OPERATION_NAME) == sc.OP_INVOKE_AGENT


def start_agent_run(
    agent: str | None, task: str | None, tracer_provider: TracerProvider | None
) -> api.TrajectoryContext | None:
    """A started (not yet current) agent run, or None when the call belongs to a current run."""
    if safe_call(agent_span_is_current, default=True):
        return None
    run = api.trajectory(task=task, agent=agent, tracer_provider=tracer_provider)
    run.start()
    return run


def run_agent(
    run: api.TrajectoryContext, wrapped: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Call ``wrapped`` inside ``run``; a returned generator carries the run until it finishes."""
    activation = run.activate()
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as exc:
        run.deactivate(activation)
        run.end(exc)
        raise
    run.deactivate(activation)
    if inspect.isgenerator(result):
        return _generator_in_run(run, result)
    if inspect.isasyncgen(result):
        return _async_generator_in_run(run, result)
    run.end()
    return result


async def run_agent_async(
    run: api.TrajectoryContext,
    wrapped: Callable[..., Awaitable[Any]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """Await ``wrapped`` inside ``run`` (attached and detached in this task, around the await)."""
    activation = run.activate()
    try:
        result = await wrapped(*args, **kwargs)
    except BaseException as exc:
        run.deactivate(activation)
        run.end(exc)
        raise
    run.deactivate(activation)
    run.end()
    return result


def _generator_in_run(run: api.TrajectoryContext, generator: Generator[Any, Any, Any]) -> Generator[Any]:
    failure: BaseException | None = None
    try:
        while True:
            activation = run.activate()
            try:
                item = next(generator)
            except StopIteration as stop:
                return stop.value
            except BaseException as exc:
                failure = exc
                raise
            finally:
                run.deactivate(activation)
            yield item
    finally:
        try:
            if failure is None:
                # Closed early (break, close(), garbage collection): the framework's own cleanup
                # runs inside the run too. A no-op once the generator is exhausted.
                activation = run.activate()
                try:
                    generator.close()
                finally:
                    run.deactivate(activation)
        finally:
            run.end(failure)


async def _async_generator_in_run(
    run: api.TrajectoryContext, generator: AsyncGenerator[Any, Any]
) -> AsyncGenerator[Any]:
    failure: BaseException | None = None
    try:
        while True:
            activation = run.activate()
            try:
                item = await generator.__anext__()
            except StopAsyncIteration:
                return
            except BaseException as exc:
                failure = exc
                raise
            finally:
                run.deactivate(activation)
            yield item
    finally:
        try:
            if failure is None:
                activation = run.activate()
                try:
                    await generator.aclose()
                finally:
                    run.deactivate(activation)
        finally:
            run.end(failure)
