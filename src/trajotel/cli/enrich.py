"""``trajotel enrich [--id ID | filters] [--stage S] [--force]``: run enrichment stages now.

Through the running collector (``POST /v1/enrich``) when one holds the data directory, else
against the store directly. Exit status 1 when a stage failed for some trajectory (the report
says which), 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from trajotel.cli.render import render_table
from trajotel.config import Config
from trajotel.errors import ConfigError, TrajotelError

FILTER_OPTIONS = {
    "tenant": "only this tenant's trajectories",
    "agent": "only this agent's (agent name)",
    "service": "only this service's",
    "outcome": "only those with this outcome (success, partial, failure, unknown)",
    "task": "only those whose task contains this text",
    "since": "only those started at or after this time (ISO 8601)",
    "until": "only those started before this time (ISO 8601)",
}
# Judging many trajectories through the collector takes a while: wait this long for its answer.
COLLECTOR_TIMEOUT_S = 3600.0


def add_parser(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    parser = sub.add_parser(
        "enrich",
        help="run enrichment stages (heuristic, judge, group, ...) on trajectories now",
        description="Without --force, only the stages a trajectory needs run (no result for its "
        "version and the stage's version); failures are retried at once.",
    )
    common(parser)
    parser.add_argument("--id", action="append", dest="ids", metavar="ID", help="a trajectory (repeatable)")
    for name, meaning in FILTER_OPTIONS.items():
        parser.add_argument(f"--{name}", metavar="VALUE", help=meaning)
    parser.add_argument("--limit", type=int, default=100, help="at most this many trajectories (default 100)")
    parser.add_argument(
        "--stage",
        action="append",
        dest="stages",
        metavar="S",
        help="run this stage (repeatable; default: [enrich] stages)",
    )
    parser.add_argument(
        "--force", action="store_true", help="run even where a result for this version exists"
    )
    parser.add_argument("--json", action="store_true", help="the report as one JSON object")


def _request(args: argparse.Namespace) -> dict[str, Any]:
    filters = {name: value for name in FILTER_OPTIONS if (value := getattr(args, name)) is not None}
    body: dict[str, Any] = {"force": args.force, "limit": args.limit, "filters": filters}
    if args.ids:
        body["ids"] = args.ids
    if args.stages:
        body["stages"] = args.stages
    return body


def _run_here(config: Config, body: dict[str, Any]) -> dict[str, Any]:
    from trajotel.enrich.runner import from_config, process
    from trajotel.store import Store, enrichments

    if not body.get("stages") and not config.enrich.stages.strip():
        raise ConfigError("no enrichment stage to run", hint="pass --stage NAME, or set [enrich] stages")
    store = Store.open(config.clickhouse_url, config.store.database)
    try:
        runner = from_config(config.enrich, store, body.get("stages"))
        ids = body.get("ids") or []
        keys = (
            [k for i in ids for k in enrichments.find(store, i)]
            if ids
            else enrichments.select(store, body["filters"], limit=body["limit"])
        )
        return process(runner, keys, body["force"])
    finally:
        store.close()


def run(config: Config, args: argparse.Namespace) -> int:
    from trajotel.cli.access import CollectorAccess
    from trajotel.collector.service import read_advert

    body = _request(args)
    advert = read_advert(config.data_dir)
    if advert is not None:
        access = CollectorAccess(
            advert.get("host", "127.0.0.1"), int(advert["http_port"]), COLLECTOR_TIMEOUT_S
        )
        report = json.loads(access._call("POST", "/v1/enrich", body))
    elif (config.data_dir / "clickhouse").exists() or config.store.clickhouse:
        report = _run_here(config, body)
    else:
        raise TrajotelError(
            f"no trajotel data in {config.data_dir}", hint="pass --data DIR / --clickhouse URL"
        )
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(f"{len(report['trajectories'])} trajectories")
        columns = ["stage", "version", "enriched", "failed", "input_tokens", "output_tokens", "cost_usd"]
        print(render_table(report["stages"], columns))
        for stage in report["stages"]:
            for error in stage["errors"]:
                print(f"  {stage['stage']} failed: {error}", file=sys.stderr)
    return 1 if any(stage["failed"] for stage in report["stages"]) else 0
