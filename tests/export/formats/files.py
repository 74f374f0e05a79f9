"""What the export driver does around a format, reduced to what the format tests need: feed it
one trajectory (or one group) at a time and write its records as JSONL or Parquet."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from trajotel.assemble.model import Trajectory
from trajotel.export.format import ExportOptions, Format


def collect(
    fmt: Format, items: Iterable[Trajectory | Sequence[Trajectory]], options: ExportOptions | None = None
) -> list[dict[str, Any]]:
    """The records of ``items``: trajectories, or groups for grouped formats."""
    options = options or ExportOptions()
    out: list[dict[str, Any]] = []
    for item in items:
        batch = list(item) if fmt.grouped else [item]
        out.extend(fmt.records(batch, options))  # type: ignore[arg-type]
    return out


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> Path:
    # No default=: a record that is not plain JSON fails here, as it would in the driver.
    with path.open("w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def write_parquet(path: Path, records: list[dict[str, Any]], fmt: Format) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    assert fmt.parquet_schema is not None, f"{fmt.name} declares no Parquet schema"
    table = pa.Table.from_pylist(records, schema=fmt.parquet_schema())
    pq.write_table(table, path)
    return path


def renamed(trajectory: Trajectory, suffix: str) -> Trajectory:
    """A copy under another id (more examples of the same shape)."""
    twin = copy.deepcopy(trajectory)
    twin.id = f"{trajectory.id}-{suffix}"
    return twin
