"""An MCP server exposing the learning tools (``search_trajectories``, ``get_successful_examples``,
``analyze_failure_patterns``) with the descriptions and input schemas of ``tool_schemas``; it
answers from a collector over REST. ``trajotel mcp`` serves it over stdio (docs/learning.md).

Built on the ``mcp`` package's low-level server (``pip install 'trajotel[mcp]'``), so the tools'
schemas are exactly ours rather than ones inferred from Python signatures. mcp 2 registers
handlers in the constructor, mcp 1 with decorators: both are supported.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from trajotel import __version__
from trajotel.client import Client
from trajotel.enrich.tool_schemas import answer_tool, tool_schemas
from trajotel.errors import ConfigError, TrajotelError

log = logging.getLogger(__name__)

NAME = "trajotel"
INSTRUCTIONS = (
    "Past runs of AI agents recorded by trajotel. Before a task, get_successful_examples shows how "
    "similar tasks were solved and analyze_failure_patterns what went wrong in similar runs; "
    "search_trajectories finds runs by words, outcome and score."
)


class ToolFailed(Exception):
    """mcp 1 turns an exception raised by a tool handler into a result flagged as an error."""


def _import_mcp() -> tuple[Any, Any, Any, Any]:
    try:
        import anyio
        import mcp.types as types
        from mcp.server.lowlevel import Server
        from mcp.server.stdio import stdio_server
    except ImportError as exc:
        raise ConfigError(
            f"the MCP server needs the mcp package, which cannot be imported: {exc}",
            hint="pip install 'trajotel[mcp]'",
        ) from None
    return anyio, types, Server, stdio_server


def build_server(client: Client) -> Any:
    """A ``mcp.server.lowlevel.Server`` whose tools answer through ``client``."""
    anyio, types, Server, _ = _import_mcp()
    tools = [types.Tool.model_validate(tool) for tool in tool_schemas("mcp")]

    async def run(name: str, arguments: dict[str, Any] | None) -> tuple[str, bool]:
        # The client blocks (urllib): run it off the event loop.
        return await anyio.to_thread.run_sync(lambda: answer_tool(name, arguments or {}, client=client))

    if "on_list_tools" in inspect.signature(Server.__init__).parameters:  # mcp 2

        async def on_list_tools(_ctx: Any, _params: Any) -> Any:
            return types.ListToolsResult(tools=tools)

        async def on_call_tool(_ctx: Any, params: Any) -> Any:
            text, failed = await run(params.name, params.arguments)
            return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=failed)

        return Server(
            NAME,
            version=__version__,
            instructions=INSTRUCTIONS,
            on_list_tools=on_list_tools,
            on_call_tool=on_call_tool,
        )

    server = Server(NAME)  # mcp 1

    @server.list_tools()
    async def list_tools() -> list[Any]:
        return tools

    @server.call_tool()
    async def call_tool(name: str, arguments: dict[str, Any] | None) -> list[Any]:
        text, failed = await run(name, arguments)
        if failed:
            raise ToolFailed(text)
        return [types.TextContent(type="text", text=text)]

    return server


def serve_stdio(client: Client) -> None:
    """Serve the tools over stdin/stdout until the client closes them."""
    anyio, _, _, stdio_server = _import_mcp()
    server = build_server(client)
    try:
        # Only to warn early (the tools answer with errors while it is down), and briefly: the
        # MCP client waits for this process to answer its first request.
        Client(client.endpoint, tenant=client.tenant, timeout_s=min(5.0, client.timeout_s)).openapi()
    except TrajotelError as exc:
        log.warning("%s (the tools will answer with this error until it is reachable)", exc)

    async def main() -> None:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())

    anyio.run(main)
