"""``trajotel mcp`` as an MCP client meets it: the real MCP client (stdio_client + ClientSession)
spawns ``trajotel mcp --endpoint <collector>`` and lists and calls its tools."""

from __future__ import annotations

import json
from typing import Any

import anyio
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from trajotel.enrich.tool_schemas import tool_schemas
from trajotel.testing.collector_process import CollectorProcess, free_port

from tests.support.agent_runs import BIN


def session_with(endpoint: str, calls: list[tuple[str, dict[str, Any]]]) -> tuple[Any, list[Any]]:
    """The tool list and the results of ``calls`` from a ``trajotel mcp`` subprocess."""

    async def main() -> tuple[Any, list[Any]]:
        server = StdioServerParameters(command=str(BIN / "trajotel"), args=["mcp", "--endpoint", endpoint])
        async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            listed = await session.list_tools()
            return listed, [await session.call_tool(name, arguments) for name, arguments in calls]

    return anyio.run(main)


def test_the_mcp_server_lists_and_runs_the_tools(learn_collector: CollectorProcess) -> None:
    listed, (failing, examples, patterns, refused) = session_with(
        learn_collector.http_endpoint,
        [
            ("search_trajectories", {"query": "Refund order 2210 for a lost parcel", "max_score": 0.5}),
            ("get_successful_examples", {"task": "Refund order 9001 for a broken kettle", "k": 2}),
            ("analyze_failure_patterns", {"task": "refund lost parcel", "agent": "support-agent"}),
            ("search_trajectories", {"query": "refund", "k": 0}),
        ],
    )
    # The same names, descriptions and input schemas as the OpenAI and Anthropic tools.
    assert [
        {"name": t.name, "description": t.description, "inputSchema": t.input_schema} for t in listed.tools
    ] == tool_schemas("mcp")

    assert not failing.is_error
    hits = json.loads(failing.content[0].text)
    assert hits[0]["id"] == "refund-timeout-1" and all(h["score"] <= 0.5 for h in hits)
    found = json.loads(examples.content[0].text)
    assert found[0]["id"] == "refund-kettle" and len(found) == 2
    assert found[0]["steps"][1]["tool"] == "issue_refund"
    report = json.loads(patterns.content[0].text)
    assert report["patterns"][0]["pattern"] == "tool issue_refund failed: TimeoutError"

    assert refused.is_error  # a bad call is the tool's error, for the model to read
    assert json.loads(refused.content[0].text) == {
        "error": "k must be a positive integer, got 0",
        "tool": "search_trajectories",
    }


def test_an_unreachable_collector_is_a_tool_error_not_a_dead_server() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    listed, [result] = session_with(endpoint, [("analyze_failure_patterns", {})])
    assert len(listed.tools) == 3
    assert result.is_error
    answer = json.loads(result.content[0].text)
    assert answer["error"].startswith(f"cannot reach the trajotel collector at {endpoint}")
