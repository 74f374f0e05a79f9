"""The agent-facing API: trajectories, rewards, outcomes and tools, as GenAI spans.

    import trajotel

    @trajotel.tool
    def get_weather(city: str) -> dict:
        \"\"\"Current weather in a city.\"\"\"
        ...

    with trajotel.trajectory(task="Weather in Paris?", agent="weather-agent") as t:
        ...
        for call in message.tool_calls:
            with trajotel.tool_call(call.id):  # links the tool span to the model's tool call
                get_weather(**json.loads(call.function.arguments))
        t.outcome("success")
        trajotel.reward(1.0)  # the same, for code that has no handle on ``t``

``trajectory()`` opens an ``invoke_agent {agent}`` span, the root of what the collector rebuilds
into a trajectory; nested ``trajectory()`` blocks are sub-agents (child ``invoke_agent`` spans).
Every call of a ``@tool`` function is an ``execute_tool {name}`` span under the current span.

Spans go to the global tracer provider unless ``tracer_provider=`` is given; without an SDK the
OpenTelemetry API is a no-op and the agent runs the same. The current trajectory and a pending
tool call id live in context variables: asyncio tasks created inside a block see them (tasks copy
the context), plain threads do not (run them with ``contextvars.copy_context().run``).

This module runs inside users' agents, so it imports nothing from trajotel's collector side, and
instrumentation failures are logged and swallowed: the agent never sees them. Errors of the user's
own code (and misuse such as an unknown outcome label) propagate unchanged.
"""

from __future__ import annotations

import contextvars
import dataclasses
import enum
import functools
import inspect
import json
import logging
import math
import numbers
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Literal, TypeVar, cast, overload

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, TracerProvider

from trajotel import __version__
from trajotel import semconv as sc
from trajotel.instrument.genai import content_capture_mode, record_error, safe_call

__all__ = [
    "OutcomeLabel",
    "TrajectoryContext",
    "current_trajectory",
    "feedback",
    "outcome",
    "reward",
    "tool",
    "tool_call",
    "trajectory",
]

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

OutcomeLabel = Literal["success", "partial", "failure"]

_SCHEMA_URL = "https://opentelemetry.io/schemas/1.37.0"

# Innermost open trajectory of this context, for the module-level reward()/outcome().
_current_trajectory: contextvars.ContextVar[TrajectoryContext | None] = contextvars.ContextVar(
    "trajotel_current_trajectory", default=None
)


def _tracer(tracer_provider: TracerProvider | None) -> Tracer:
    # Looked up when a span starts, not at import or decoration time: agents usually configure
    # the global provider after their tools are defined (the API returns a proxy until then).
    return trace.get_tracer(__name__, __version__, tracer_provider, schema_url=_SCHEMA_URL)


# --- trajectories --------------------------------------------------------------------------


def _metadata_attributes(metadata: Mapping[str, Any] | None) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for key, value in (metadata or {}).items():
        if value is None:
            continue
        # String attributes only: the collector keeps them as a flat map of strings.
        text = value if isinstance(value, str) else _to_json(value)
        attributes[f"{sc.TRAJOTEL_METADATA_PREFIX}{key}"] = text
    return attributes


class TrajectoryContext:
    """One agent run: an ``invoke_agent`` span, current while the block runs.

    Returned by ``trajotel.trajectory()``; use it with ``with`` or ``async with`` (once).
    """

    def __init__(
        self,
        task: str | None,
        agent: str | None,
        metadata: Mapping[str, Any] | None,
        conversation_id: str | None,
        tracer_provider: TracerProvider | None,
    ) -> None:
        self.task = task
        self.agent = agent
        self._metadata = dict(metadata or {})
        self._conversation_id = conversation_id
        self._tracer_provider = tracer_provider
        self._span: Span | None = None
        self._ended = False
        self._activation: tuple[object | None, object | None] = (None, None)

    @property
    def span(self) -> Span:
        """The ``invoke_agent`` span (a non-recording span before the block starts)."""
        return self._span if self._span is not None else trace.INVALID_SPAN

    def _attributes(self) -> dict[str, Any]:
        attributes: dict[str, Any] = {sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_AGENT}
        if self.agent:
            attributes[sc.GEN_AI_AGENT_NAME] = self.agent
        if self.task is not None:
            attributes[sc.TRAJOTEL_TASK] = self.task
        # Only a conversation id the user knows: inventing one would merge unrelated runs.
        if self._conversation_id:
            attributes[sc.GEN_AI_CONVERSATION_ID] = self._conversation_id
        attributes.update(safe_call(_metadata_attributes, self._metadata, default={}) or {})
        return attributes

    # -- context manager protocol --

    def __enter__(self) -> TrajectoryContext:
        self.start()
        self._activation = self.activate()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._span is None or self._ended:
            return
        try:
            self.deactivate(self._activation)
        finally:
            self.end(exc)
        # Returning None lets the user's exception propagate unchanged.

    # -- the block in steps, for instrumentors whose agent run spans generator steps --

    def start(self) -> None:
        """Start the span without making it current (``__enter__`` = ``start`` + ``activate``)."""
        if self._span is not None:
            raise RuntimeError("a trajotel.trajectory() block can be entered only once")
        name = f"{sc.OP_INVOKE_AGENT} {self.agent}" if self.agent else sc.OP_INVOKE_AGENT
        self._span = _start_span(self._tracer_provider, name, self._attributes())

    def activate(self) -> tuple[object | None, object | None]:
        """Make the run current in this context; pass the result to ``deactivate``, in the same context."""
        otel_token = safe_call(_attach_span, self.span)
        return otel_token, _current_trajectory.set(self)

    def deactivate(self, activation: tuple[object | None, object | None]) -> None:
        otel_token, current_token = activation
        if current_token is not None:
            safe_call(_current_trajectory.reset, current_token)
        if otel_token is not None:
            safe_call(otel_context.detach, otel_token)

    def end(self, exc: BaseException | None = None) -> None:
        """End the span once; ``exc`` marks it failed."""
        span = self._span
        if span is None or self._ended:
            return
        self._ended = True
        try:
            if exc is not None:
                safe_call(record_error, span, exc)
        finally:
            safe_call(span.end)

    async def __aenter__(self) -> TrajectoryContext:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    # -- labels --

    def reward(self, value: float, reason: str | None = None) -> None:
        """Record the run's reward (``trajotel.reward``) and optionally why."""
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"reward must be a number, not {type(value).__name__}")
        if not math.isfinite(value):
            raise ValueError(f"reward must be finite, not {value!r}")
        self._set_label(sc.TRAJOTEL_REWARD, float(value), sc.TRAJOTEL_REWARD_REASON, reason)

    def outcome(self, label: OutcomeLabel, reason: str | None = None) -> None:
        """Record the run's outcome: "success", "partial" or "failure" (``trajotel.outcome``)."""
        if label not in sc.OUTCOME_LABELS:
            raise ValueError(f"outcome must be one of {', '.join(sc.OUTCOME_LABELS)}; got {label!r}")
        self._set_label(sc.TRAJOTEL_OUTCOME, label, sc.TRAJOTEL_OUTCOME_REASON, reason)

    def _set_label(self, key: str, value: Any, reason_key: str, reason: str | None) -> None:
        span = self._span
        if span is None or self._ended:
            # The span is not open: the label would be lost (or rejected by the SDK) silently.
            logger.warning("trajotel: %s set outside its trajectory block; ignored", key)
            return
        span.set_attribute(key, value)
        if reason is not None:
            span.set_attribute(reason_key, str(reason))


def _start_span(tracer_provider: TracerProvider | None, name: str, attributes: dict[str, Any]) -> Span:
    try:
        return _tracer(tracer_provider).start_span(name, kind=SpanKind.INTERNAL, attributes=attributes)
    except Exception:
        logger.warning("trajotel: could not start span %r", name, exc_info=True)
        return trace.INVALID_SPAN


def _attach_span(span: Span) -> object:
    return otel_context.attach(trace.set_span_in_context(span))


def trajectory(
    task: str | None = None,
    agent: str | None = None,
    *,
    metadata: Mapping[str, Any] | None = None,
    conversation_id: str | None = None,
    tracer_provider: TracerProvider | None = None,
) -> TrajectoryContext:
    """Record one agent run: ``with trajotel.trajectory(task=..., agent=...) as t:``.

    The block runs inside an ``invoke_agent {agent}`` span (INTERNAL) carrying
    ``gen_ai.agent.name``, ``trajotel.task``, ``trajotel.metadata.<key>`` (string values; others
    as JSON) and ``gen_ai.conversation.id`` when ``conversation_id`` is given. An exception
    leaving the block marks the span ERROR and propagates unchanged. Works with ``async with``;
    nested blocks record sub-agents as child spans.
    """
    return TrajectoryContext(task, agent, metadata, conversation_id, tracer_provider)


def current_trajectory() -> TrajectoryContext | None:
    """The innermost open trajectory of this context, if any."""
    return _current_trajectory.get()


def reward(value: float, reason: str | None = None) -> None:
    """``t.reward(...)`` on the innermost open trajectory; outside one, log a warning."""
    current = _current_trajectory.get()
    if current is None:
        # Scoring code may also run outside any recorded run (evals, unit tests): never fail it.
        logger.warning("trajotel: reward() called outside a trajectory; ignored")
        return
    current.reward(value, reason)


def outcome(label: OutcomeLabel, reason: str | None = None) -> None:
    """``t.outcome(...)`` on the innermost open trajectory; outside one, log a warning."""
    current = _current_trajectory.get()
    if current is None:
        logger.warning("trajotel: outcome() called outside a trajectory; ignored")
        return
    current.outcome(label, reason)


# --- feedback ------------------------------------------------------------------------------


def feedback(
    trajectory_id: str | None = None,
    value: float | None = None,
    *,
    label: str | None = None,
    comment: str | None = None,
    source: str = "api",
    turn_index: int | None = None,
    author: str | None = None,
    endpoint: str | None = None,
) -> dict[str, Any] | None:
    """Feedback about a trajectory (or one of its turns, by ``turn_index``).

    With ``trajectory_id``: sent now to the collector's REST API (``endpoint``, default
    ``$TRAJOTEL_ENDPOINT`` or the local collector), from any process, after the run; returns the
    stored record and raises a ``TrajotelError`` when the collector refuses it or is unreachable.
    Without it, inside a ``trajectory()`` block: recorded on the run's span as a
    ``gen_ai.evaluation.result`` event, which the collector stores as feedback of that run
    (returns None). Outside a block without an id: a warning, nothing recorded.
    """
    if trajectory_id is not None:
        from trajotel.client import Client  # the HTTP client only when it is used

        return Client(endpoint).feedback(
            trajectory_id,
            value,
            label=label,
            comment=comment,
            source=source,
            turn_index=turn_index,
            author=author,
        )
    current = _current_trajectory.get()
    if current is None or current._span is None or current._ended:
        logger.warning("trajotel: feedback() without a trajectory id outside a trajectory; ignored")
        return None
    if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
        raise TypeError(f"feedback value must be a number, not {type(value).__name__}")
    attributes: dict[str, Any] = {
        sc.GEN_AI_EVALUATION_NAME: label or sc.FEEDBACK_EVALUATION_NAME,
        sc.TRAJOTEL_FEEDBACK_SOURCE: source,
    }
    optional = {
        sc.GEN_AI_EVALUATION_SCORE_VALUE: None if value is None else float(value),
        sc.GEN_AI_EVALUATION_SCORE_LABEL: label,
        sc.GEN_AI_EVALUATION_EXPLANATION: comment,
        sc.TRAJOTEL_FEEDBACK_AUTHOR: author,
        sc.TRAJOTEL_FEEDBACK_TURN_INDEX: turn_index,
    }
    attributes.update({key: v for key, v in optional.items() if v is not None})
    safe_call(current.span.add_event, sc.EVENT_GEN_AI_EVALUATION_RESULT, attributes)
    return None


# --- tool call ids -------------------------------------------------------------------------


@dataclasses.dataclass
class _PendingCall:
    id: str
    taken: bool = False


_pending_call: contextvars.ContextVar[_PendingCall | None] = contextvars.ContextVar(
    "trajotel_pending_tool_call", default=None
)


@contextmanager
def tool_call(call_id: str | None) -> Iterator[None]:
    """Give the next ``@tool`` span started in this block the model's tool call id.

        with trajotel.tool_call(call.id):
            result = get_weather(**json.loads(call.function.arguments))

    The id becomes ``gen_ai.tool.call.id``, which the collector uses to join the tool span to
    the model's tool call. Only the first tool span in the block takes it, so tools that call
    other tools do not claim the same call. ``None`` records no id.
    """
    token = _pending_call.set(_PendingCall(call_id) if call_id else None)
    try:
        yield
    finally:
        _pending_call.reset(token)


def _take_call_id() -> str | None:
    pending = _pending_call.get()
    if pending is None or pending.taken:
        return None
    pending.taken = True
    return pending.id


# --- tools ---------------------------------------------------------------------------------


def _json_fallback(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)  # pydantic models
    if callable(dump):
        return dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, enum.Enum):
        return value.value
    # Anything else is not JSON: its repr says more than nothing and keeps the document valid.
    return repr(value)


def _to_json(value: Any) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_fallback)
    except Exception:
        # e.g. circular references or a failing model_dump: still record something.
        logger.debug("trajotel: value not serializable as JSON; recording its repr", exc_info=True)
        return repr(value)


def _description(func: Callable[..., Any]) -> str | None:
    doc = inspect.getdoc(func)
    if not doc:
        return None
    return next((line.strip() for line in doc.splitlines() if line.strip()), None)


class _ToolSpec:
    """What a ``@tool`` wrapper needs at each call, computed once at decoration time."""

    def __init__(
        self,
        func: Callable[..., Any],
        name: str | None,
        description: str | None,
        tracer_provider: TracerProvider | None,
    ) -> None:
        self.name = name or getattr(func, "__name__", None) or "tool"
        self.description = description if description is not None else _description(func)
        self.tracer_provider = tracer_provider
        self.signature: inspect.Signature | None = safe_call(inspect.signature, func)
        params = list(self.signature.parameters.values()) if self.signature else []
        # Methods and classmethods: the receiver is not an argument the model chose.
        first = params[0] if params else None
        self.receiver = (
            first.name
            if first is not None
            and first.name in ("self", "cls")
            and first.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
            else None
        )

    def arguments_json(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        if self.signature is None:
            return _to_json({"args": list(args), "kwargs": kwargs})
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError:
            # The call itself will fail the same way; record what the caller passed.
            return _to_json({"args": list(args), "kwargs": kwargs})
        arguments: dict[str, Any] = {}
        for key, value in bound.arguments.items():
            if key == self.receiver:
                continue
            if self.signature.parameters[key].kind is inspect.Parameter.VAR_KEYWORD:
                arguments.update(value)  # **kwargs read as named arguments, as the model sent them
            else:
                arguments[key] = value
        return _to_json(arguments)

    def start(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> ToolSpan | None:
        return start_tool_span(
            self.name,
            tracer_provider=self.tracer_provider,
            description=self.description,
            arguments=lambda: self.arguments_json(args, kwargs),
        )


class ToolSpan:
    """An open ``execute_tool`` span, current until ``finish``; see ``start_tool_span``."""

    def __init__(self, span: Span, otel_token: object | None, open_token: contextvars.Token[Any]) -> None:
        self.span = span
        self._otel_token = otel_token
        self._open_token = open_token

    def finish(
        self,
        result: Any = None,
        exc: BaseException | None = None,
        *,
        error_type: str | None = None,
        record_result: bool = True,
    ) -> None:
        """End the span: ``exc`` (raised) or ``error_type`` (a failure the tool returned) mark it
        failed; ``result`` is recorded as JSON when ``record_result`` and content capture allow."""
        span = self.span
        try:
            if exc is not None:
                safe_call(record_error, span, exc)
            else:
                if error_type:
                    safe_call(_mark_failed, span, error_type)
                if record_result and _capture_tool_content():
                    safe_call(_set_result, span, result)
        finally:
            safe_call(_open_tool.reset, self._open_token)
            if self._otel_token is not None:
                safe_call(otel_context.detach, self._otel_token)
            safe_call(span.end)


@dataclasses.dataclass(frozen=True)
class _OpenTool:
    name: str
    span: Span


# The innermost tool span trajotel opened in this context, to tell one call seen by two layers
# (a framework tool running a ``@tool`` function of the same name) from a tool calling a tool.
_open_tool: contextvars.ContextVar[_OpenTool | None] = contextvars.ContextVar(
    "trajotel_open_tool", default=None
)


def _recorded_by_enclosing_tool(name: str) -> bool:
    enclosing = _open_tool.get()
    return enclosing is not None and enclosing.name == name and trace.get_current_span() is enclosing.span


def _capture_tool_content() -> bool:
    mode = safe_call(content_capture_mode)
    return mode is not None and mode.on_span


def _mark_failed(span: Span, error_type: str) -> None:
    span.set_attribute(sc.ERROR_TYPE, error_type)
    span.set_status(Status(StatusCode.ERROR, error_type))


def start_tool_span(
    name: str,
    *,
    tracer_provider: TracerProvider | None = None,
    description: str | None = None,
    call_id: str | None = None,
    tool_type: str = sc.TOOL_TYPE_FUNCTION,
    arguments: Callable[[], str | None] | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> ToolSpan | None:
    """Open an ``execute_tool {name}`` span (INTERNAL) and make it current until ``finish``.

    Shared by ``@tool`` and trajotel's framework instrumentors. ``call_id`` defaults to the id
    of an enclosing ``tool_call()`` block; ``arguments`` returns the call's arguments as JSON,
    asked only when the span records and content capture is on (as is the result at ``finish``).
    Returns None when the call is already being recorded: the current span is trajotel's span of
    a tool with the same name, one layer up (a framework tool whose function is a ``@tool``, an
    MCP call made by a framework tool of that name). One invocation, one span.
    """
    if safe_call(_recorded_by_enclosing_tool, name):
        return None
    pending = safe_call(_take_call_id)  # taken even when call_id is known: it is this call's
    span_attributes: dict[str, Any] = {
        sc.GEN_AI_OPERATION_NAME: sc.OP_EXECUTE_TOOL,
        sc.GEN_AI_TOOL_NAME: name,
        sc.GEN_AI_TOOL_TYPE: tool_type,
        **(attributes or {}),
    }
    if description:
        span_attributes[sc.GEN_AI_TOOL_DESCRIPTION] = description
    if call_id or pending:
        span_attributes[sc.GEN_AI_TOOL_CALL_ID] = call_id or pending
    span = _start_span(tracer_provider, f"{sc.OP_EXECUTE_TOOL} {name}", span_attributes)
    # Skip serializing large arguments nobody records.
    if arguments is not None and span.is_recording() and _capture_tool_content():
        text = safe_call(arguments)
        if text is not None:
            span.set_attribute(sc.GEN_AI_TOOL_CALL_ARGUMENTS, text)
    open_token = _open_tool.set(_OpenTool(name, span))
    # Current while the tool runs: model calls and tools inside it become its children.
    return ToolSpan(span, safe_call(_attach_span, span), open_token)


def _set_result(span: Span, result: Any) -> None:
    if span.is_recording():  # skip serializing large results nobody records
        span.set_attribute(sc.GEN_AI_TOOL_CALL_RESULT, _to_json(result))


def _wrap(func: F, spec: _ToolSpec) -> F:
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            tool_span = spec.start(args, kwargs)
            if tool_span is None:
                return await func(*args, **kwargs)
            try:
                result = await func(*args, **kwargs)
            except BaseException as exc:
                tool_span.finish(exc=exc)
                raise
            tool_span.finish(result)
            return result

        return cast(F, async_wrapper)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        tool_span = spec.start(args, kwargs)
        if tool_span is None:
            return func(*args, **kwargs)
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            tool_span.finish(exc=exc)
            raise
        tool_span.finish(result)
        return result

    return cast(F, wrapper)


def _decorate(
    func: Any, name: str | None, description: str | None, tracer_provider: TracerProvider | None
) -> Any:
    # ``@tool`` above ``@classmethod`` / ``@staticmethod``: wrap the function, keep the binding.
    if isinstance(func, (classmethod, staticmethod)):
        return type(func)(_decorate(func.__func__, name, description, tracer_provider))
    if not callable(func):
        raise TypeError(f"@trajotel.tool needs a function, not {type(func).__name__}")
    return _wrap(func, _ToolSpec(func, name, description, tracer_provider))


@overload
def tool(func: F, /) -> F: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    tracer_provider: TracerProvider | None = None,
) -> Callable[[F], F]: ...


def tool(
    func: F | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    tracer_provider: TracerProvider | None = None,
) -> F | Callable[[F], F]:
    """Record every call of a function as an ``execute_tool {name}`` span.

    Use as ``@trajotel.tool`` or ``@trajotel.tool(name=..., description=...)`` on sync or async
    functions, methods, classmethods and staticmethods. The span (INTERNAL) carries
    ``gen_ai.tool.name`` (default: the function's name), ``gen_ai.tool.type`` = function,
    ``gen_ai.tool.description`` (default: the docstring's first line), the call's arguments as
    JSON (without ``self``/``cls``), the result as JSON (values JSON cannot hold as their repr)
    and ``gen_ai.tool.call.id`` when the call runs in a ``trajotel.tool_call(id)`` block.
    Exceptions mark the span ERROR and propagate unchanged; return values are unchanged.
    """
    if func is not None:
        return cast(F, _decorate(func, name, description, tracer_provider))

    def decorator(f: F) -> F:
        return cast(F, _decorate(f, name, description, tracer_provider))

    return decorator
