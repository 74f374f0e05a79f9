"""MCP client tool calls against a real in-process MCP server (MCPServer, in-memory transport)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from langchain_core.tools import StructuredTool
from mcp import Client
from mcp.server.mcpserver import MCPServer
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import trajotel
from trajotel import semconv as sc
from trajotel.instrument.langchain import LangChainInstrumentor
from trajotel.instrument.mcp import MCPInstrumentor


def _server() -> MCPServer:
    server = MCPServer("weather")

    @server.tool()
    def get_weather(city: str) -> dict[str, Any]:
        """Current weather in a city."""
        return {"city": city, "sky": "sunny", "celsius": 22}

    @server.tool()
    def shout(text: str) -> str:
        """Upper-case a text."""
        return text.upper()

    @server.tool()
    def explode(reason: str) -> str:
        """Always fails."""
        raise RuntimeError(reason)

    return server


@pytest.fixture
def instrumented_mcp(tracer_provider: TracerProvider) -> Iterator[None]:
    instrumentor = MCPInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    yield
    instrumentor.uninstrument()


def _with_client(body: Callable[[Client], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        async with Client(_server()) as client:
            return await body(client)

    return asyncio.run(main())


def _tool_spans(exporter: InMemorySpanExporter) -> list[Any]:
    return [
        s
        for s in exporter.get_finished_spans()
        if s.attributes.get(sc.GEN_AI_OPERATION_NAME) == "execute_tool"
    ]


def test_a_tool_call_is_one_span_with_arguments_and_structured_result(
    instrumented_mcp: None, span_exporter: InMemorySpanExporter
) -> None:
    result = _with_client(lambda c: c.call_tool("get_weather", {"city": "Paris"}))
    assert result.structured_content == {"city": "Paris", "sky": "sunny", "celsius": 22}
    (span,) = _tool_spans(span_exporter)  # Client.call_tool -> ClientSession.call_tool: one span
    assert span.name == "execute_tool get_weather"
    assert span.attributes[sc.GEN_AI_TOOL_TYPE] == sc.TOOL_TYPE_EXTENSION
    assert json.loads(span.attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS]) == {"city": "Paris"}
    assert json.loads(span.attributes[sc.GEN_AI_TOOL_CALL_RESULT]) == result.structured_content
    assert span.status.is_ok and sc.GEN_AI_TOOL_CALL_ID not in span.attributes


def test_the_session_api_and_a_tool_call_block(
    instrumented_mcp: None, span_exporter: InMemorySpanExporter
) -> None:
    async def body(client: Client) -> Any:
        with trajotel.tool_call("call_abc"):
            return await client.session.call_tool("shout", {"text": "hi"})

    result = _with_client(body)
    (span,) = _tool_spans(span_exporter)
    assert span.attributes[sc.GEN_AI_TOOL_CALL_ID] == "call_abc"
    assert json.loads(span.attributes[sc.GEN_AI_TOOL_CALL_RESULT]) == result.structured_content


def test_an_error_result_marks_the_span(instrumented_mcp: None, span_exporter: InMemorySpanExporter) -> None:
    result = _with_client(lambda c: c.call_tool("explode", {"reason": "boom"}))
    assert result.is_error
    (span,) = _tool_spans(span_exporter)
    assert span.attributes[sc.ERROR_TYPE] == sc.ERROR_TYPE_TOOL_ERROR and not span.status.is_ok
    # What the server said (mcp 2.x hides the exception's message from the client).
    assert json.loads(span.attributes[sc.GEN_AI_TOOL_CALL_RESULT]) == result.content[0].text


def test_a_protocol_error_is_raised_unchanged_and_recorded(
    instrumented_mcp: None, span_exporter: InMemorySpanExporter
) -> None:
    async def body(client: Client) -> Any:
        return await client.session.call_tool("no_such_tool", {})

    try:
        outcome: Any = _with_client(body)
    except Exception as exc:
        outcome = exc
    (span,) = _tool_spans(span_exporter)
    if isinstance(outcome, Exception):  # mcp raises MCPError for an unknown tool...
        assert span.attributes[sc.ERROR_TYPE] == type(outcome).__qualname__
    else:  # ...or answers with an error result, depending on the server's version
        assert outcome.is_error and span.attributes[sc.ERROR_TYPE] == sc.ERROR_TYPE_TOOL_ERROR


def test_a_langchain_tool_that_calls_mcp_is_one_span(
    instrumented_mcp: None, span_exporter: InMemorySpanExporter, tracer_provider: TracerProvider
) -> None:
    langchain = LangChainInstrumentor()
    langchain.instrument(tracer_provider=tracer_provider)
    try:

        async def body(client: Client) -> Any:
            async def get_weather(city: str) -> Any:
                return (await client.call_tool("get_weather", {"city": city})).structured_content

            adapter = StructuredTool.from_function(
                coroutine=get_weather, name="get_weather", description="Weather via MCP."
            )
            call = {"type": "tool_call", "id": "call_1", "name": "get_weather", "args": {"city": "Oslo"}}
            return await adapter.ainvoke(call)

        message = _with_client(body)
    finally:
        langchain.uninstrument()
    (span,) = _tool_spans(span_exporter)
    assert span.attributes[sc.GEN_AI_TOOL_CALL_ID] == "call_1"
    assert json.loads(span.attributes[sc.GEN_AI_TOOL_CALL_RESULT])["city"] == "Oslo"
    assert json.loads(message.content)["city"] == "Oslo"


def test_uninstrument_restores_call_tool(
    tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    from mcp.client.session import ClientSession

    originals = (ClientSession.call_tool, Client.call_tool)
    instrumentor = MCPInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    assert ClientSession.call_tool is not originals[0]
    instrumentor.uninstrument()
    assert (ClientSession.call_tool, Client.call_tool) == originals
    _with_client(lambda c: c.call_tool("shout", {"text": "x"}))
    assert _tool_spans(span_exporter) == []
    assert instrumentor.instrumentation_dependencies() == ("mcp >= 1.0",)
