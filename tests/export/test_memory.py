"""Exports stream: the memory an export needs does not grow with how many trajectories it writes
(Python allocations, traced; bench/export.py measures the whole process with 100,000)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from trajotel.export.run import ExportSettings, export
from trajotel.store import Store
from trajotel.store.trajectories import write_trajectories

from tests.export.synthetic import trajectories

PAGE = 50


def _peak(store: Store, out: Path, limit: int, name: str | None = None) -> int:
    given = {"format": "trajotel", "out": str(out), "limit": limit, "statuses": []}
    if name is not None:
        given["name"] = name
    tracemalloc.start()
    try:
        manifest = export(store, given, ExportSettings(page_size=PAGE))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert manifest["counts"]["trajectories"] == limit
    return peak


def test_memory_does_not_grow_with_the_number_exported(store: Store, tmp_path: Path) -> None:
    for start in range(0, 2000, 500):
        write_trajectories(store, [(t, "x") for t in trajectories(500, start=start, turns=4)], set())
    small = _peak(store, tmp_path / "small.jsonl", 200)
    large = _peak(store, tmp_path / "large.jsonl", 2000)
    # Ten times the trajectories, forty pages instead of four: the peak is one page's worth.
    assert large < small * 1.3 + 512 * 1024, (small, large)
    # A named export records what it wrote as it goes, not all at the end.
    named = _peak(store, tmp_path / "named", 2000, name="all")
    assert named < small * 1.3 + 1024 * 1024, (small, named)
