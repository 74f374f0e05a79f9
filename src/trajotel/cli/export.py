"""``trajotel export`` and ``trajotel import`` (docs/export.md).

Both go through the running collector (``POST /v1/export``, ``POST /v1/import``) when one holds
the data directory, else open the store themselves. Paths are made absolute here, so the
collector reads and writes the files the command names.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trajotel.cli.render import render_table
from trajotel.config import Config
from trajotel.errors import TrajotelError
from trajotel.export.spec import add_arguments, given_options

# Exporting or importing many trajectories through the collector takes a while.
COLLECTOR_TIMEOUT_S = 6 * 3600.0


def add_parsers(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    parser = sub.add_parser(
        "export",
        help="write trajectories as a dataset (JSONL / Parquet) with a manifest",
        description="Formats: --list-formats. A named export (--name) is incremental: each run writes "
        "only trajectories that are new or have a newer version since its last run.",
    )
    common(parser)
    add_arguments(parser)
    parser.add_argument("--list-formats", action="store_true", help="list the formats and exit")
    parser.add_argument("--reset", action="store_true", help="start the named export over (all again)")
    parser.add_argument("--json", action="store_true", help="print the manifest as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress line on a terminal")

    imp = sub.add_parser(
        "import",
        help="import trajectories from trajotel JSONL, OpenAI chat JSONL or Trae-agent JSON",
        description="Imported trajectories from other formats carry metadata trajotel.import.format "
        "and trajotel.import.source; a trajectory id the tenant has already is skipped.",
    )
    common(imp)
    imp.add_argument("paths", nargs="+", metavar="PATH", help="files, or directories of files")
    imp.add_argument("--format", "-f", default="trajotel", choices=("trajotel", "openai-chat", "trae"))
    imp.add_argument("--tenant", help="import into this tenant (default: the trajectory's own, or default)")
    imp.add_argument(
        "--on-conflict",
        choices=("skip", "replace"),
        default="skip",
        help="an id the tenant has already: skip it, or write the import as a newer version",
    )
    imp.add_argument("--service", help="service name of trajectories from other formats")
    imp.add_argument("--agent", help="agent name of trajectories from other formats")
    imp.add_argument("--json", action="store_true", help="print the report as JSON")


def run(config: Config, args: argparse.Namespace) -> int:
    if args.command == "import":
        return _run_import(config, args)
    if args.list_formats:
        return _list_formats()
    given = given_options(args)
    if "out" in given:
        given["out"] = str(Path(given["out"]).expanduser().absolute()) + (
            "/" if given["out"].endswith("/") else ""
        )
    manifest = _through_collector(config, "/v1/export", {"options": given, "reset": args.reset})
    if manifest is None:
        manifest = _export_here(config, given, args)
    if args.json:
        print(json.dumps(manifest, ensure_ascii=False, sort_keys=True))
    else:
        _summary(manifest)
    return 0


def _list_formats() -> int:
    from trajotel.export.registry import load_formats

    registry = load_formats()
    rows = [
        {
            "format": f.name,
            "files": ",".join(f.file_types),
            "levels": ",".join(f.levels),
            "grouped": "yes" if f.grouped else "",
            "description": f.description,
        }
        for f in sorted(registry.formats.values(), key=lambda f: f.name)
    ]
    print(render_table(rows, ["format", "files", "levels", "grouped", "description"]))
    for name, why in sorted(registry.broken.items()):
        print(f"trajotel: warning: format module {name} not loaded: {why}", file=sys.stderr)
    return 0


def _through_collector(config: Config, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
    from trajotel.cli.access import CollectorAccess
    from trajotel.collector.service import read_advert

    advert = read_advert(config.data_dir)
    if advert is None:
        return None
    access = CollectorAccess(advert.get("host", "127.0.0.1"), int(advert["http_port"]), COLLECTOR_TIMEOUT_S)
    result: dict[str, Any] = json.loads(access._call("POST", path, body))
    return result


def _open_store(config: Config, create: bool = False) -> Any:
    """The store; an import may create the embedded one, an export needs data."""
    from trajotel.store import Store

    if not create and not (config.data_dir / "clickhouse").exists() and not config.store.clickhouse:
        raise TrajotelError(
            f"no trajotel data in {config.data_dir}",
            hint="start `trajotel collector` first, or pass --data DIR",
        )
    return Store.open(config.clickhouse_url, config.store.database)


class _Progress:
    """A progress line on a terminal, redrawn at most a few times a second."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.shown = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.shown < 0.2 and done < total:
            return
        self.shown = now
        rate = done / max(now - self.started, 1e-9)
        share = f" ({100 * done / total:.0f} %)" if total else ""
        print(f"\rexport: {done:,} of {total:,} trajectories{share}, {rate:,.0f}/s ", end="", file=sys.stderr)

    def close(self) -> None:
        print(file=sys.stderr)


def _export_here(config: Config, given: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from trajotel.export.run import export, settings_from_config

    settings = settings_from_config(config)
    progress = _Progress() if sys.stderr.isatty() and not args.no_progress else None
    store = _open_store(config)
    try:
        return export(store, given, settings, reset=args.reset, progress=progress)
    finally:
        if progress is not None:
            progress.close()
        store.close()


def _summary(manifest: dict[str, Any]) -> None:
    counts = manifest["counts"]
    what = f"export {manifest['name']!r} run {manifest['run']}" if manifest["name"] else "export"
    if not manifest["files"]:
        print(f"{what}: nothing new since its last run")
        return
    print(
        f"{what}: {counts['records']:,} {manifest['format']} records "
        f"from {counts['trajectories']:,} trajectories"
        + (f", {counts['skipped']:,} without a record" if counts["skipped"] else "")
        + (f" (most often: {next(iter(counts['skip_reasons']))})" if counts.get("skip_reasons") else "")
        + (f", {counts['duplicates']:,} duplicates left out" if counts["duplicates"] else "")
        + (f", {counts['truncated']:,} truncated" if counts["truncated"] else "")
        + (
            f", {counts['left_out_small_groups']:,} in too small groups left out"
            if counts["left_out_small_groups"]
            else ""
        )
    )
    for item in manifest["files"]:
        print(f"  {item['path']}  {item['records']:,} records ({item['split']})")


def _run_import(config: Config, args: argparse.Namespace) -> int:
    body = {
        "paths": [str(Path(p).expanduser().absolute()) for p in args.paths],
        "format": args.format,
        "tenant": args.tenant,
        "on_conflict": args.on_conflict,
        "service": args.service,
        "agent": args.agent,
    }
    report = _through_collector(config, "/v1/import", body)
    if report is None:
        from trajotel.export.imports import ImportOptions, import_files

        store = _open_store(config, create=True)
        try:
            options = ImportOptions(**{k: v for k, v in body.items() if k != "paths" and v is not None})
            report = import_files(store, body["paths"], options).to_dict()
        finally:
            store.close()
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(
            f"import: {report['imported']:,} of {report['read']:,} trajectories imported"
            + (f", {report['existing']:,} already there (skipped)" if report["existing"] else "")
            + f" from {len(report['files'])} file(s)"
        )
    return 0
