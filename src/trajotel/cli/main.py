"""The ``trajotel`` command. Thin: it parses arguments and calls library functions."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from trajotel import __version__
from trajotel.cli import enrich as enrich_cli
from trajotel.cli import export as export_cli
from trajotel.cli import mcp as mcp_cli
from trajotel.config import Config, load_config
from trajotel.errors import TrajotelError

_FORMATS = {
    "table": "PrettyCompactMonoBlock",
    "tsv": "TabSeparatedWithNames",
    "csv": "CSVWithNames",
    "json": "JSONEachRow",
}


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="TOML config file (see collector/trajotel.toml)")
    parser.add_argument("--data", metavar="DIR", help="data directory (default: ~/.local/share/trajotel)")
    parser.add_argument("--clickhouse", metavar="URL", help="chdb:///path (embedded) or http(s)://host:8123")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trajotel", description="Agent runs -> OpenTelemetry -> trajectories."
    )
    parser.add_argument("--version", action="version", version=f"trajotel {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    collector = sub.add_parser("collector", help="run the OTLP collector (gRPC :4317, HTTP :4318)")
    _common(collector)
    collector.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    collector.add_argument("--grpc-port", type=int, metavar="N")
    collector.add_argument("--http-port", type=int, metavar="N")

    query = sub.add_parser("query", help="run SQL against the store")
    _common(query)
    query.add_argument("sql")
    query.add_argument(
        "--format",
        default=None,
        help="table | tsv | csv | json, or any ClickHouse output format (default: table on a "
        "terminal, tsv otherwise)",
    )

    traj = sub.add_parser("trajectories", help="list and show trajectories")
    traj_sub = traj.add_subparsers(dest="action", required=True)
    listing = traj_sub.add_parser("list", help="the newest trajectories")
    _common(listing)
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    show = traj_sub.add_parser("show", help="one trajectory, turn by turn")
    _common(show)
    show.add_argument("id")
    show.add_argument("--json", action="store_true", help="the canonical trajectory JSON")

    doctor = sub.add_parser("doctor", help="report LLM/agent spans and content trajotel did not understand")
    _common(doctor)
    doctor.add_argument("--json", action="store_true", help="the report as one JSON object")
    doctor.add_argument("--examples", type=int, default=3, metavar="N", help="example span ids per finding")

    enrich_cli.add_parser(sub, _common)
    export_cli.add_parsers(sub, _common)
    mcp_cli.add_parser(sub)
    return parser


def _config(args: argparse.Namespace) -> Config:
    overrides = {"store": {"clickhouse": args.clickhouse}}
    if args.command == "collector":
        overrides["receive"] = {"host": args.host, "grpc_port": args.grpc_port, "http_port": args.http_port}
    return load_config(args.config, overrides=overrides, data_dir=args.data)


def _run_collector(config: Config) -> int:
    from trajotel.collector.service import Collector

    print(f"trajotel collector: data in {config.data_dir}, store {config.clickhouse_url}", file=sys.stderr)
    print("  opening the store and applying migrations…", file=sys.stderr, flush=True)
    collector = Collector(config)
    collector.serve_forever()
    return 0


def _run_query(config: Config, sql: str, fmt: str | None) -> int:
    from trajotel.cli.access import open_access

    chosen = fmt or ("table" if sys.stdout.isatty() else "tsv")
    access = open_access(config)
    try:
        sys.stdout.buffer.write(access.query_raw(sql, _FORMATS.get(chosen, chosen)))
    finally:
        access.close()
    sys.stdout.flush()
    return 0


def _run_trajectories(config: Config, args: argparse.Namespace) -> int:
    from trajotel.cli.access import open_access
    from trajotel.cli.render import render_table, render_trajectory

    access = open_access(config)
    try:
        if args.action == "list":
            rows = access.list_trajectories(args.limit)
            if args.json:
                for row in rows:
                    print(json.dumps(row, ensure_ascii=False))
            else:
                print(
                    render_table(
                        rows,
                        [
                            "trajectory_id",
                            "version",
                            "status",
                            "outcome",
                            "agent_name",
                            "turn_count",
                            "tools_used",
                            "start_time",
                            "duration_ms",
                        ],
                    )
                )
        else:
            trajectory = access.trajectory(args.id)
            print(trajectory.to_json() if args.json else render_trajectory(trajectory))
    finally:
        access.close()
    return 0


def _run_doctor(config: Config, args: argparse.Namespace) -> int:
    from trajotel.cli.access import open_access
    from trajotel.store.doctor import diagnose, render

    access = open_access(config)
    try:

        def query(sql: str) -> list[dict]:
            return [json.loads(line) for line in access.query_raw(sql, "JSONEachRow").splitlines() if line]

        report = diagnose(query, examples=args.examples)
    finally:
        access.close()
    print(json.dumps(report.to_dict(), ensure_ascii=False) if args.json else render(report))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        if args.command == "mcp":  # a client of a collector's REST API: no store settings
            return mcp_cli.run(args)
        config = _config(args)
        if args.command == "collector":
            return _run_collector(config)
        if args.command == "query":
            return _run_query(config, args.sql, args.format)
        if args.command == "doctor":
            return _run_doctor(config, args)
        if args.command == "enrich":
            return enrich_cli.run(config, args)
        if args.command in ("export", "import"):
            return export_cli.run(config, args)
        return _run_trajectories(config, args)
    except TrajotelError as exc:
        print(f"trajotel: error: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"  hint: {exc.hint}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
