"""``trajotel mcp [--endpoint URL]``: serve the learning tools (search_trajectories,
get_successful_examples, analyze_failure_patterns) as an MCP server over stdio, answering from a
running collector's REST API. An MCP client (Claude Desktop, an IDE, an agent framework) starts
it as a subprocess: docs/learning.md has a configuration example.
"""

from __future__ import annotations

import argparse
from typing import Any

from trajotel.client import DEFAULT_ENDPOINT, ENV_ENDPOINT, default_endpoint


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "mcp",
        help="serve the learning tools to MCP clients over stdio",
        description="An MCP server (stdio) with the tools search_trajectories, get_successful_examples "
        "and analyze_failure_patterns, answering from a running collector.",
    )
    parser.add_argument(
        "--endpoint",
        metavar="URL",
        default=None,
        help=f"the collector's OTLP/HTTP address (default: ${ENV_ENDPOINT}, else {DEFAULT_ENDPOINT})",
    )
    parser.add_argument("--tenant", metavar="NAME", help="only this tenant's trajectories")
    parser.add_argument(
        "--timeout", type=float, default=30.0, metavar="S", help="seconds to wait for the collector (30)"
    )


def run(args: argparse.Namespace) -> int:
    from trajotel.client import Client
    from trajotel.enrich.mcp_server import serve_stdio

    serve_stdio(Client(args.endpoint or default_endpoint(), tenant=args.tenant, timeout_s=args.timeout))
    return 0
