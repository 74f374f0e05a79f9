"""The wrappers of LangChain's ``BaseTool.run`` / ``arun``: one ``execute_tool {name}`` span per
tool invocation.

``invoke`` / ``ainvoke`` (what LangGraph's ``ToolNode`` calls, with a ``ToolCall``) go through
``run`` / ``arun``, so wrapping these two gives each invocation one span; the model's tool call id
(``tool_call_id``) becomes ``gen_ai.tool.call.id``. The recorded result is the tool's own return
value, read where LangChain formats it into a ``ToolMessage`` (``_format_output``), which is also
where a tool error handled into a message (``handle_tool_error``) shows: that call is recorded
with ``error.type`` = ``tool_error``. Should a LangChain version drop ``_format_output``, the
result falls back to the returned message's content.
"""

from __future__ import annotations

import contextvars
import dataclasses
from collections.abc import Callable
from typing import Any

from opentelemetry.trace import TracerProvider

from trajotel import semconv as sc
from trajotel.instrument import api, genai

_HANDLED_ERROR_STATUS = "error"


@dataclasses.dataclass
class _Invocation:
    """One instrumented ``run``/``arun`` call: its span and the output LangChain formatted."""

    tool_span: api.ToolSpan
    token: contextvars.Token[_Invocation | None] | None = None
    formatted: bool = False
    content: Any = None
    status: str | None = None

    @classmethod
    def start(
        cls, tool: Any, args: tuple[Any, ...], kwargs: dict[str, Any], tracer_provider: TracerProvider | None
    ) -> _Invocation | None:
        tool_input = args[0] if args else kwargs.get("tool_input")
        call_id = kwargs.get("tool_call_id")
        description = getattr(tool, "description", None)
        tool_span = api.start_tool_span(
            str(getattr(tool, "name", None) or type(tool).__name__),
            tracer_provider=tracer_provider,
            description=description if isinstance(description, str) else None,
            call_id=call_id if isinstance(call_id, str) else None,
            arguments=lambda: genai.to_json(tool_input),
        )
        if tool_span is None:
            return None
        invocation = cls(tool_span)
        invocation.token = _current.set(invocation)
        return invocation

    def finish(self, output: Any, exc: BaseException | None) -> None:
        try:
            if exc is not None:
                self.tool_span.finish(exc=exc)
            elif self.formatted:
                failed = self.status == _HANDLED_ERROR_STATUS
                self.tool_span.finish(self.content, error_type=sc.ERROR_TYPE_TOOL_ERROR if failed else None)
            else:
                self.tool_span.finish(_message_content(output))
        finally:
            if self.token is not None:
                _current.reset(self.token)


# The innermost instrumented tool call of this context, for ``_format_output`` to report to.
_current: contextvars.ContextVar[_Invocation | None] = contextvars.ContextVar(
    "trajotel_langchain_tool", default=None
)


def _message_content(output: Any) -> Any:
    # A ToolMessage (invoked with a tool call id) or the tool's return value as it is.
    content = getattr(output, "content", None)
    return content if content is not None and type(output).__name__ == "ToolMessage" else output


def _note_formatted(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    invocation = _current.get()
    if invocation is None or invocation.formatted:
        return
    invocation.formatted = True
    invocation.content = args[0] if args else kwargs.get("content")
    status = args[4] if len(args) > 4 else kwargs.get("status")
    invocation.status = status if isinstance(status, str) else None


def format_output(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """A wrapt wrapper for ``langchain_core.tools.base._format_output``: notes the raw result."""
    genai.safe_call(_note_formatted, args, kwargs)
    return wrapped(*args, **kwargs)


def tool_run(tracer_provider: TracerProvider | None) -> Callable[..., Any]:
    """A wrapt wrapper for ``BaseTool.run``."""

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]):
        invocation = genai.safe_call(_Invocation.start, instance, args, kwargs, tracer_provider)
        if invocation is None:
            return wrapped(*args, **kwargs)
        try:
            output = wrapped(*args, **kwargs)
        except BaseException as exc:
            genai.safe_call(invocation.finish, None, exc)
            raise
        genai.safe_call(invocation.finish, output, None)
        return output

    return wrapper


def tool_arun(tracer_provider: TracerProvider | None) -> Callable[..., Any]:
    """A wrapt wrapper for ``BaseTool.arun``: the same span as ``run``, in the caller's task."""

    async def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ):
        invocation = genai.safe_call(_Invocation.start, instance, args, kwargs, tracer_provider)
        if invocation is None:
            return await wrapped(*args, **kwargs)
        try:
            output = await wrapped(*args, **kwargs)
        except BaseException as exc:
            genai.safe_call(invocation.finish, None, exc)
            raise
        genai.safe_call(invocation.finish, output, None)
        return output

    return wrapper
