"""OpenTelemetry instrumentation of MCP clients: each tool call is an ``execute_tool {name}`` span.

    from trajotel.instrument.mcp import MCPInstrumentor
    MCPInstrumentor().instrument(tracer_provider=provider)  # or opentelemetry-instrument

Covered: ``mcp.ClientSession.call_tool`` and, in mcp 2.x, ``mcp.Client.call_tool`` (which may
send several ``tools/call`` requests for one call: input rounds, a re-list and resend; they stay
one span). The span (INTERNAL, ``gen_ai.tool.type`` = extension) is the parent of the SDK's own
``MCP send tools/call`` span when mcp emits one. The tool call id is known only when the call runs
in a ``trajotel.tool_call(id)`` block, or when a framework tool of the same name (a LangChain tool
built from an MCP tool) already records the call, in which case that span is the only one.

Result (``gen_ai.tool.call.result``, with content capture on): the structured content when the
server sent one, else the text of a lone text block, else the content blocks as JSON. A result
with ``isError`` marks the span failed with ``error.type`` = ``tool_error``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.trace import TracerProvider

from trajotel import semconv as sc
from trajotel.instrument import api, genai

__all__ = ["MCPInstrumentor"]

logger = logging.getLogger(__name__)

# (module, class) pairs whose ``call_tool`` is wrapped; missing ones (mcp 1.x has no Client) are skipped.
_TARGETS = (("mcp.client.session", "ClientSession"), ("mcp.client.client", "Client"))


def result_value(result: Any) -> Any:
    """What a ``CallToolResult`` returned, as a JSON-ready value (see the module docstring)."""
    structured = genai.field(result, "structured_content", genai.field(result, "structuredContent"))
    if structured is not None:
        return structured
    blocks = genai.field(result, "content") or []
    if len(blocks) == 1 and genai.field(blocks[0], "type") == "text":
        return genai.field(blocks[0], "text")
    return [block.model_dump(mode="json", exclude_none=True) for block in blocks]


def _is_error(result: Any) -> bool:
    return genai.field(result, "is_error", genai.field(result, "isError")) is True


def _start(args: tuple[Any, ...], kwargs: dict[str, Any], provider: TracerProvider | None) -> Any:
    name = args[0] if args else kwargs.get("name")
    arguments = args[1] if len(args) > 1 else kwargs.get("arguments")
    return api.start_tool_span(
        str(name),
        tracer_provider=provider,
        tool_type=sc.TOOL_TYPE_EXTENSION,
        arguments=lambda: genai.to_json(arguments or {}),
    )


def _finish(tool_span: api.ToolSpan, result: Any) -> None:
    failed = genai.safe_call(_is_error, result, default=False)
    value = genai.safe_call(result_value, result)
    tool_span.finish(value, error_type=sc.ERROR_TYPE_TOOL_ERROR if failed else None)


def call_tool(tracer_provider: TracerProvider | None) -> Callable[..., Any]:
    """A wrapt wrapper for ``call_tool`` (async)."""

    async def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ):
        tool_span = genai.safe_call(_start, args, kwargs, tracer_provider)
        if tool_span is None:
            return await wrapped(*args, **kwargs)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            tool_span.finish(exc=exc)
            raise
        genai.safe_call(_finish, tool_span, result)
        return result

    return wrapper


class MCPInstrumentor(BaseInstrumentor):
    """Records MCP client tool calls as ``execute_tool`` spans."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("mcp >= 1.0",)

    def _instrument(self, **kwargs: Any) -> None:
        import importlib

        import wrapt

        for module_name, class_name in _TARGETS:
            try:
                module = importlib.import_module(module_name)
                if hasattr(getattr(module, class_name, None), "call_tool"):
                    wrapper = call_tool(kwargs.get("tracer_provider"))
                    wrapt.wrap_function_wrapper(module, f"{class_name}.call_tool", wrapper)
            except Exception:
                # A broken instrumentation must not stop the agent (or opentelemetry-instrument).
                logger.warning("trajotel: could not instrument %s.%s", module_name, class_name, exc_info=True)

    def _uninstrument(self, **kwargs: Any) -> None:
        import importlib

        for module_name, class_name in _TARGETS:
            try:
                owner = getattr(importlib.import_module(module_name), class_name, None)
                if owner is not None:
                    unwrap(owner, "call_tool")
            except Exception:
                logger.warning(
                    "trajotel: could not uninstrument %s.%s", module_name, class_name, exc_info=True
                )
