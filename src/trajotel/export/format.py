"""The contract between the export driver and the format modules.

A format is one module in ``trajotel.export.formats`` that defines ``FORMAT = Format(...)`` (or
a distribution's ``trajotel.export_formats`` entry point naming a ``Format``; see
``trajotel.export.registry``). The driver (``trajotel.export.run``) reads trajectories from the
store, filters and groups them, and hands each format either one trajectory or one group at a
time; the format turns them into plain records (dicts), and the driver writes those as JSONL,
Parquet or a JSON array, atomically, with a manifest. Adding a format touches one file.

What the driver has done before ``records()`` sees a trajectory (``trajotel.export.prepare``):

* **truncation**: ``max_turns`` keeps the first turns; ``max_tokens`` cuts the longest text and
  tool-result parts of the messages (the same message is cut the same way in every turn, so
  message identity across turns holds) and, if that is not enough, drops turns from the end.
  A cut trajectory has ``metadata["trajotel.truncated"]`` saying what was cut; cut text ends with
  ``options.truncation_marker``.
* **reasoning** ``"drop"``: reasoning parts are removed from every message. ``"auto"`` and
  ``"keep"`` are the format's to apply (what its consumer accepts).
* **grouping** (``grouped`` formats): a group is the trajectories sharing a group key (the task by
  default), at least ``--group-min-size`` of them and at most ``--group-max-size`` (a larger
  group is split into even parts).
* deduplication of identical records, the train / validation split and the files are the
  driver's; a format never sees them.

Trajectories are read-only: turns share their history's Message objects (as
``Trajectory.from_dict`` builds them), so a format that changes one changes others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from trajotel.assemble.model import Trajectory

Level = Literal["trajectory", "turn"]
FileType = Literal["jsonl", "parquet", "json"]


@dataclass(frozen=True)
class ExportOptions:
    """How records are shaped; every format reads what applies to it and ignores the rest."""

    level: Level = "trajectory"  # one record per trajectory, or one per turn (its input + output)
    reasoning: Literal["auto", "keep", "drop"] = "auto"  # auto: what the format's consumer accepts
    tool_arguments: Literal["auto", "string", "object"] = "auto"  # auto: the consumer's own form
    max_turns: int | None = None  # keep the first N turns; a cut trajectory gets a marker
    max_tokens: int | None = None  # approximate (characters / 4) budget of a record's messages
    truncation_marker: str = "[truncated by trajotel]"
    credit: str = "uniform"  # per-turn credit method (trajotel.enrich.credit.METHODS)
    # Metadata keys copied into formats with free-form fields (OpenAI RFT, verl extra_info).
    metadata_keys: Sequence[str] = ()
    system_prompt: bool = True  # keep the system instructions as the first message
    file_type: FileType = "jsonl"  # what the records are written as (a format may shape for it)


@dataclass(frozen=True)
class Format:
    """One output format.

    ``records(items, options)``: for ``grouped`` formats ``items`` is one group (trajectories of
    the same task, at least two), else a one-trajectory list; yields zero or more records. A
    trajectory the format cannot express (e.g. DPO with no preferred/rejected pair) yields
    nothing, and the driver counts it as skipped.
    """

    name: str  # the --format value, e.g. "openai-sft"
    description: str
    file_types: tuple[FileType, ...] = ("jsonl",)  # the first is the default
    levels: tuple[Level, ...] = ("trajectory",)
    grouped: bool = False
    records: Callable[[Sequence[Trajectory], ExportOptions], Iterator[dict[str, Any]]] = field(
        default=lambda items, options: iter(())
    )
    # Parquet: the pyarrow schema of a record (a callable so pyarrow loads only when used).
    parquet_schema: Callable[[], Any] | None = None
    # Parquet, for records whose nested structure differs (free-form JSON such as tool schemas,
    # which one struct type per column would merge, each record gaining the others' fields as
    # nulls): the schema of one record. The driver writes one file per distinct schema
    # (``writers.SchemaFiles``); ``parquet_schema`` is then an empty export's.
    parquet_schema_of: Callable[[dict[str, Any]], Any] | None = None
    schema_version: str = "1"
