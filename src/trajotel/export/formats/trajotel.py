"""trajotel canonical JSONL: one trajectory per line, exactly ``Trajectory.to_json()``.

Lossless: every field of the model (turn inputs by reference to the previous turn, as in
``proto/trajotel/v1/trajectory.proto``), the final reward, people's edits and feedback, ids,
versions and times. ``trajotel import --format trajotel`` writes the same trajectories back, so
export -> import -> export gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from trajotel.assemble.model import Trajectory
from trajotel.export.format import ExportOptions, Format


def records(items: Sequence[Trajectory], options: ExportOptions) -> Iterator[dict[str, Any]]:
    for trajectory in items:
        yield trajectory.to_dict()


FORMAT = Format(
    name="trajotel",
    description="trajotel canonical trajectory JSONL (lossless; `trajotel import` reads it back)",
    file_types=("jsonl",),
    levels=("trajectory",),
    records=records,
)
