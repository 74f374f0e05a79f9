"""What an export is: format, output, filters and shaping (``ExportSpec``), parsed from the command
line options of ``trajotel export`` (the same options a schedule's ``options`` string holds), kept
as JSON in manifests and by named exports, and sent to a running collector as JSON."""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from trajotel.errors import InvalidInputError
from trajotel.export.format import ExportOptions
from trajotel.store.trajectory_query import RANGES, SCORE_RANGES, TrajectoryFilter

# Running trajectories are left out unless asked for: their next version would be written again.
DEFAULT_STATUSES = ("complete", "error", "abandoned")
RANGE_NAMES = (*RANGES, *SCORE_RANGES)
_DURATION = re.compile(r"^-(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass
class ExportSpec:
    format: str
    out: str
    file_type: str | None = None  # None: from --out's extension, else the format's first
    name: str | None = None  # a named export is incremental (docs/export.md)
    # filters
    tenant: str | None = None
    ids: list[str] = field(default_factory=list)
    agents: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=lambda: list(DEFAULT_STATUSES))  # [] = any
    tags: list[str] = field(default_factory=list)
    task: str | None = None
    since: str | None = None  # ISO 8601, Unix seconds, or -N{s,m,h,d,w} before the run
    until: str | None = None
    ranges: dict[str, list[float | None]] = field(default_factory=dict)  # name -> [min, max]
    where: str | None = None  # SQL over the trajectories view
    limit: int | None = None  # at most this many trajectories
    # shaping
    level: str = "trajectory"
    reasoning: str = "auto"
    tool_arguments: str = "auto"
    max_turns: int | None = None
    max_tokens: int | None = None
    truncation_marker: str = ExportOptions.truncation_marker
    credit: str = "uniform"
    metadata_keys: list[str] = field(default_factory=list)
    system_prompt: bool = True
    group_by: str = "task"
    group_min_size: int = 2
    group_max_size: int = 64
    validation_fraction: float = 0.0
    split_seed: str = ""
    dedup: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Any) -> ExportSpec:
        if not isinstance(d, dict):
            raise InvalidInputError("an export spec must be a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise InvalidInputError(
                f"unknown export setting {unknown[0]!r}", hint=f"settings: {', '.join(sorted(known))}"
            )
        for required in ("format", "out"):
            if not isinstance(d.get(required), str) or not d[required]:
                raise InvalidInputError(f"export setting {required!r} is required")
        spec = cls(**d)
        spec.check()
        return spec

    def definition(self) -> dict[str, Any]:
        """What makes two runs of a named export the same export."""
        return {k: v for k, v in self.to_dict().items() if k != "name"}

    def check(self) -> None:
        """Refuse values that cannot work, naming the option."""
        for name, value in (
            ("--max-turns", self.max_turns),
            ("--max-tokens", self.max_tokens),
            ("--limit", self.limit),
        ):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise InvalidInputError(f"{name} must be a positive integer, not {value!r}")
        if not 2 <= self.group_min_size <= self.group_max_size:
            raise InvalidInputError(
                f"group sizes: need 2 <= --group-min-size ({self.group_min_size}) <= --group-max-size "
                f"({self.group_max_size})"
            )
        if self.group_max_size < 2 * self.group_min_size - 1:
            raise InvalidInputError(
                f"--group-max-size must be at least {2 * self.group_min_size - 1} "
                "(2 x --group-min-size - 1), so a large group splits into groups that are all big enough"
            )
        if not 0.0 <= self.validation_fraction < 1.0:
            raise InvalidInputError(
                f"--validation-fraction must be in [0, 1), not {self.validation_fraction}"
            )
        for name, bounds in self.ranges.items():
            if name not in RANGE_NAMES:
                raise InvalidInputError(
                    f"unknown range filter {name!r}", hint=f"ranges: {', '.join(RANGE_NAMES)}"
                )
            low, high = bounds
            if low is not None and high is not None and low > high:
                raise InvalidInputError(f"--min-{name} ({low}) is greater than --max-{name} ({high})")
        if self.name is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", self.name):
            raise InvalidInputError(
                f"export name {self.name!r}: use letters, digits, '-', '_' and '.' (it names files)"
            )
        since, until = parse_time(self.since, "--since"), parse_time(self.until, "--until")
        if since is not None and until is not None and since >= until:
            raise InvalidInputError(f"--since ({self.since}) is not before --until ({self.until})")

    def options(self, file_type: str) -> ExportOptions:
        return ExportOptions(
            level=self.level,  # type: ignore[arg-type]
            reasoning=self.reasoning,  # type: ignore[arg-type]
            tool_arguments=self.tool_arguments,  # type: ignore[arg-type]
            max_turns=self.max_turns,
            max_tokens=self.max_tokens,
            truncation_marker=self.truncation_marker,
            credit=self.credit,
            metadata_keys=tuple(self.metadata_keys),
            system_prompt=self.system_prompt,
            file_type=file_type,  # type: ignore[arg-type]
        )

    def trajectory_filter(self, now: datetime | None = None) -> TrajectoryFilter:
        return TrajectoryFilter(
            tenant=self.tenant,
            ids=tuple(self.ids),
            agents=tuple(self.agents),
            services=tuple(self.services),
            outcomes=tuple(self.outcomes),
            statuses=tuple(self.statuses),
            tags=tuple(self.tags),
            task_contains=self.task,
            since=parse_time(self.since, "--since", now),
            until=parse_time(self.until, "--until", now),
            ranges={k: (v[0], v[1]) for k, v in self.ranges.items()},
            sql=self.where,
            not_exported_by=self.name,
        )


def parse_time(text: str | None, option: str, now: datetime | None = None) -> datetime | None:
    """ISO 8601 (UTC unless it says otherwise), Unix seconds, or ``-N`` + s/m/h/d/w before now."""
    if text is None or text == "":
        return None
    if found := _DURATION.match(text.strip()):
        return (now or datetime.now(UTC)) - timedelta(seconds=float(found.group(1)) * _UNITS[found.group(2)])
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(seconds):
            return datetime.fromtimestamp(seconds, UTC)
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(
            f"{option}: {text!r} is not a time",
            hint="use ISO 8601 (2026-05-01T12:00:00Z), Unix seconds, or a time before now: -24h, -7d",
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


# --- command line options ---------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """An argument parser that raises instead of exiting (schedules are parsed inside the collector)."""

    def error(self, message: str) -> NoReturn:
        raise InvalidInputError(message, hint="see `trajotel export --help`")


def add_arguments(parser: argparse.ArgumentParser, *, require: bool = False) -> None:
    """The options of ``trajotel export`` that define an export (schedules use the same)."""
    out = parser.add_argument_group("output")
    out.add_argument("--format", "-f", required=require, help="export format (--list-formats shows them)")
    out.add_argument(
        "--out", "-o", metavar="PATH", required=require, help="output file (a directory for --name)"
    )
    out.add_argument(
        "--file-type", choices=("jsonl", "parquet", "json"), help="default: from --out, else the format's"
    )
    out.add_argument(
        "--name",
        metavar="NAME",
        help="a named, incremental export: each run writes only trajectories that are new or have a "
        "newer version since its last run, to --out/NAME-NNNNNN.EXT; `--name NAME` alone repeats it",
    )
    f = parser.add_argument_group("filters (all must hold; repeatable ones match any value, --tag all)")
    f.add_argument("--tenant")
    f.add_argument("--id", action="append", dest="ids", metavar="ID", help="these trajectories")
    f.add_argument("--agent", action="append", dest="agents", metavar="NAME")
    f.add_argument("--service", action="append", dest="services", metavar="NAME")
    f.add_argument("--outcome", action="append", dest="outcomes", help="success, partial, failure, unknown")
    f.add_argument(
        "--status",
        action="append",
        dest="statuses",
        help=f"default: {', '.join(DEFAULT_STATUSES)} (running ones are left out); 'any' for all",
    )
    f.add_argument("--tag", action="append", dest="tags", help="has this tag (every --tag given)")
    f.add_argument("--task", metavar="TEXT", help="the task contains this text (case-insensitive)")
    f.add_argument(
        "--since", metavar="TIME", help="started at or after: ISO 8601, Unix seconds, or -24h / -7d"
    )
    f.add_argument("--until", metavar="TIME", help="started before (same forms)")
    for name in RANGE_NAMES:
        f.add_argument(f"--min-{name}", type=float, metavar="X")
        f.add_argument(f"--max-{name}", type=float, metavar="X")
    f.add_argument("--where", metavar="SQL", help="an SQL condition on the columns of the trajectories view")
    f.add_argument("--limit", type=int, metavar="N", help="at most N trajectories")
    s = parser.add_argument_group("shaping")
    s.add_argument("--level", choices=("trajectory", "turn"), help="one record per trajectory or per turn")
    s.add_argument(
        "--reasoning", choices=("auto", "keep", "drop"), help="default auto: the format's consumer"
    )
    s.add_argument(
        "--tool-arguments", choices=("auto", "string", "object"), help="default auto: the consumer's"
    )
    s.add_argument("--max-turns", type=int, metavar="N", help="keep the first N turns of a trajectory")
    s.add_argument(
        "--max-tokens", type=int, metavar="N", help="cut a record's messages to ~N tokens (chars/4)"
    )
    s.add_argument("--truncation-marker", metavar="TEXT", help="appended to cut text")
    s.add_argument(
        "--credit", metavar="METHOD", help="per-turn credit: uniform, discounted, tool_status, ..."
    )
    s.add_argument("--metadata-key", action="append", dest="metadata_keys", metavar="KEY")
    s.add_argument("--no-system-prompt", action="store_true", default=None, help="leave system messages out")
    s.add_argument(
        "--group-by",
        metavar="KEY",
        help="grouped formats: task (default), task_and_agent, agent, "
        "service, metadata.KEY or sql:EXPRESSION",
    )
    s.add_argument("--group-min-size", type=int, metavar="N", help="smaller groups are left out (default 2)")
    s.add_argument("--group-max-size", type=int, metavar="N", help="larger groups are split (default 64)")
    s.add_argument(
        "--validation-fraction",
        type=float,
        metavar="F",
        help="put this share of trajectories (by id, deterministic) in a validation file",
    )
    s.add_argument("--split-seed", metavar="TEXT", help="changes which trajectories are in validation")
    s.add_argument(
        "--dedup", action="store_true", default=None, help="leave out records identical to earlier ones"
    )


def given_options(args: argparse.Namespace) -> dict[str, Any]:
    """The spec settings the options give (those not given are left out)."""
    # Options named like the spec's fields; statuses, system_prompt and ranges are read below.
    plain = [
        f.name
        for f in dataclasses.fields(ExportSpec)
        if f.name not in ("statuses", "system_prompt", "ranges")
    ]
    given: dict[str, Any] = {key: value for key in plain if (value := getattr(args, key, None)) is not None}
    if args.statuses is not None:
        given["statuses"] = [] if "any" in args.statuses else args.statuses
    if args.no_system_prompt:
        given["system_prompt"] = False
    ranges = {
        name: [getattr(args, f"min_{name}"), getattr(args, f"max_{name}")]
        for name in RANGE_NAMES
        if getattr(args, f"min_{name}") is not None or getattr(args, f"max_{name}") is not None
    }
    if ranges:
        given["ranges"] = ranges
    return given


def build_spec(given: dict[str, Any], base: ExportSpec | None = None) -> ExportSpec:
    """``given`` settings over ``base``'s (a named export's stored definition) or the defaults.
    A given range replaces that range's bounds."""
    values: dict[str, Any] = base.to_dict() if base is not None else {}
    for key, value in given.items():
        if key == "ranges":
            values["ranges"] = {**(values.get("ranges") or {}), **value}
        else:
            values[key] = value
    if not values.get("format") or not values.get("out"):
        raise InvalidInputError(
            "--format and --out are required (a named export that ran before remembers them)",
            hint="e.g. --format trajotel --out runs.jsonl",
        )
    if values.get("name") and len(values["out"]) > 1:  # a directory either way: one spelling
        values["out"] = values["out"].rstrip("/")
    return ExportSpec.from_dict(values)


def parse_given(text: str | Sequence[str]) -> dict[str, Any]:
    """The settings option text gives, e.g. ``--format openai-sft --out sft/ --max-turns 20``."""
    parser = _Parser(prog="trajotel export", add_help=False)
    add_arguments(parser)
    return given_options(parser.parse_args(shlex.split(text) if isinstance(text, str) else list(text)))


def parse_options(text: str | Sequence[str], base: ExportSpec | None = None) -> ExportSpec:
    return build_spec(parse_given(text), base)
