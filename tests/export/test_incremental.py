"""Named exports are incremental: a run writes only trajectories that are new or have a newer
version since the previous run, never the same version twice; an interrupted run counts for
nothing; the export remembers its definition."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from pathlib import Path

import pytest

from trajotel.assemble.model import Trajectory
from trajotel.errors import InvalidInputError
from trajotel.export.run import ExportCancelled, ExportSettings, export
from trajotel.store import Store
from trajotel.store import exports as ledger

from tests.export.conftest import fill
from tests.export.synthetic import trajectories, trajectory

NAMED = {"format": "trajotel", "name": "nightly"}


def _ids(path: Path) -> list[tuple[str, int]]:
    return [(t.id, t.version) for t in map(Trajectory.from_json, path.read_text().splitlines())]


def test_each_run_writes_only_what_is_new(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "exports"
    fill(store, trajectories(30))
    first = export(store, {**NAMED, "out": str(out)}, ExportSettings(page_size=7))
    assert first["run"] == 1 and first["counts"]["trajectories"] == 30
    assert len(_ids(out / "nightly-000001.jsonl")) == 30
    manifest = json.loads((out / "nightly-000001.manifest.json").read_text())
    assert manifest["watermark"]["exported_versions"] == 30
    data = (out / "nightly-000001.jsonl").read_bytes()
    assert manifest["files"] == [
        {
            "path": "nightly-000001.jsonl",
            "split": "all",
            "records": 30,
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    ]

    # New runs arrive, one trajectory gets a newer version: the next run (only --name) writes those.
    fill(store, trajectories(5, start=30))
    fill(store, [dataclasses.replace(trajectory(4), version=2, task="late span")])
    second = export(store, {"name": "nightly"})
    assert second["run"] == 2
    assert sorted(_ids(out / "nightly-000002.jsonl")) == sorted(
        [(f"{i:032x}", 1) for i in range(30, 35)] + [(f"{4:032x}", 2)]
    )
    assert second["watermark"]["exported_versions"] == 36

    # Nothing new: no files, and the run is not counted.
    third = export(store, {"name": "nightly"})
    assert third["files"] == [] and third["counts"]["trajectories"] == 0
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "nightly-000001.jsonl",
        "nightly-000001.manifest.json",
        "nightly-000002.jsonl",
        "nightly-000002.manifest.json",
    ]

    # --reset starts over: everything again, in a new run.
    again = export(store, {"name": "nightly"}, reset=True)
    assert again["counts"]["trajectories"] == 35 and again["run"] == 4


def test_an_interrupted_run_counts_for_nothing(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "exports"
    fill(store, trajectories(20))
    cancel = threading.Event()

    def stop_after_first_page(done: int, total: int) -> None:
        cancel.set()

    with pytest.raises(ExportCancelled):
        export(
            store,
            {**NAMED, "out": str(out)},
            ExportSettings(page_size=5),
            progress=stop_after_first_page,
            cancel=cancel,
        )
    assert [p for p in out.iterdir() if not p.name.startswith(".nightly.lock")] == []

    # A run that died with its items recorded but no manifest (a killed process) is undone.
    crashed = ledger.ExportRun(
        "nightly",
        7,
        ledger.WRITING,
        spec="{}",
        files=[str(out / "nightly-000007.jsonl"), str(out / "nightly-000007.manifest.json")],
        started_at_ns=1,
    )
    ledger.save_run(store, crashed)
    ledger.record_items(store, "nightly", 7, [("default", f"{i:032x}", 1, 0) for i in range(20)])
    (out / "nightly-000007.jsonl").write_text("half a file\n")
    (out / ".nightly-000007.jsonl.99999.tmp").write_text("what a killed process left\n")

    done = export(store, {**NAMED, "out": str(out)})
    assert done["counts"]["trajectories"] == 20 and done["run"] == 8
    assert not (out / "nightly-000007.jsonl").exists()
    assert not (out / ".nightly-000007.jsonl.99999.tmp").exists()
    states = {r.run: r.status for r in ledger.runs(store, "nightly")}
    assert states[7] == ledger.FAILED and states[8] == ledger.DONE


def test_a_named_export_keeps_its_definition(store: Store, tmp_path: Path) -> None:
    fill(store, trajectories(3))
    export(store, {**NAMED, "out": str(tmp_path), "agents": ["weather-agent"]})
    with pytest.raises(InvalidInputError, match=r"defined differently before .*agents"):
        export(store, {"name": "nightly", "agents": ["helper-agent"]})
    with pytest.raises(InvalidInputError, match="--format and --out are required"):
        export(store, {"name": "never-ran"})
    # Another export of the same name cannot run at the same time.
    lock = (tmp_path / ".nightly.lock").open("a")
    import fcntl

    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        with pytest.raises(InvalidInputError, match="running already"):
            export(store, {"name": "nightly"})
    finally:
        lock.close()
