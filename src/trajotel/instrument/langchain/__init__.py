"""OpenTelemetry instrumentation of LangChain tools and LangGraph graphs.

    from trajotel.instrument.langchain import LangChainInstrumentor, LangGraphInstrumentor
    LangChainInstrumentor().instrument(tracer_provider=provider)  # or opentelemetry-instrument
    LangGraphInstrumentor().instrument(tracer_provider=provider)

``LangChainInstrumentor`` (langchain-core): every ``BaseTool`` invocation (``invoke``/``ainvoke``,
``run``/``arun``, sync or async) is one ``execute_tool {name}`` span, with the model's tool call
id when LangGraph's ``ToolNode`` (or anyone) invokes it with a ``ToolCall``; see ``tools``.

``LangGraphInstrumentor`` (langgraph): the outermost ``invoke``/``ainvoke``/``stream``/``astream``
of a compiled graph (``create_react_agent`` included) is an ``invoke_agent {graph name}`` span,
so one agent run is one trace; see ``graphs`` and ``trajotel.instrument.frameworks``.

The model calls themselves are recorded by the provider instrumentors (openai, anthropic...).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import unwrap

from trajotel.instrument.langchain.graphs import async_graph_call, graph_call
from trajotel.instrument.langchain.tools import format_output, tool_arun, tool_run

__all__ = ["LangChainInstrumentor", "LangGraphInstrumentor"]

logger = logging.getLogger(__name__)

_TOOLS_MODULE = "langchain_core.tools.base"
_PREGEL_MODULE = "langgraph.pregel.main"
_GRAPH_METHODS = ("invoke", "stream", "astream")


class LangChainInstrumentor(BaseInstrumentor):
    """Records LangChain tool invocations as ``execute_tool`` spans."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("langchain-core >= 0.3",)

    def _instrument(self, **kwargs: Any) -> None:
        try:
            import wrapt

            provider = kwargs.get("tracer_provider")
            wrapt.wrap_function_wrapper(_TOOLS_MODULE, "BaseTool.run", tool_run(provider))
            wrapt.wrap_function_wrapper(_TOOLS_MODULE, "BaseTool.arun", tool_arun(provider))
        except Exception:
            # A broken instrumentation must not stop the agent (or opentelemetry-instrument).
            logger.warning("trajotel: could not instrument langchain tools", exc_info=True)
            return
        try:
            # Private: only sharpens the recorded result (see tools.py); optional.
            wrapt.wrap_function_wrapper(_TOOLS_MODULE, "_format_output", format_output)
        except Exception:
            logger.debug("trajotel: langchain _format_output not found; results from messages", exc_info=True)

    def _uninstrument(self, **kwargs: Any) -> None:
        try:
            from langchain_core.tools import base

            unwrap(base.BaseTool, "run")
            unwrap(base.BaseTool, "arun")
            unwrap(base, "_format_output")
        except Exception:
            logger.warning("trajotel: could not uninstrument langchain tools", exc_info=True)


class LangGraphInstrumentor(BaseInstrumentor):
    """Records the outermost LangGraph graph call of a run as an ``invoke_agent`` span."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("langgraph >= 0.3",)

    def _instrument(self, **kwargs: Any) -> None:
        try:
            import wrapt

            provider = kwargs.get("tracer_provider")
            for method in _GRAPH_METHODS:
                wrapt.wrap_function_wrapper(_PREGEL_MODULE, f"Pregel.{method}", graph_call(provider))
            wrapt.wrap_function_wrapper(_PREGEL_MODULE, "Pregel.ainvoke", async_graph_call(provider))
        except Exception:
            logger.warning("trajotel: could not instrument langgraph", exc_info=True)

    def _uninstrument(self, **kwargs: Any) -> None:
        try:
            from langgraph.pregel.main import Pregel

            for method in (*_GRAPH_METHODS, "ainvoke"):
                unwrap(Pregel, method)
        except Exception:
            logger.warning("trajotel: could not uninstrument langgraph", exc_info=True)
