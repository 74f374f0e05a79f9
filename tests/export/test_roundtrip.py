"""The canonical format is lossless: export -> import -> export gives the same bytes, and the
trajectories read back are the ones written (every field set, people's edits and feedback)."""

from __future__ import annotations

import json
from pathlib import Path

from trajotel.assemble.model import Trajectory
from trajotel.export.imports import ImportOptions, import_files
from trajotel.export.run import export
from trajotel.store import Store
from trajotel.store.edits import Patch, patch_trajectory
from trajotel.store.feedback import new_feedback, write_feedback
from trajotel.store.trajectories import read_trajectory

from tests.export.conftest import fill
from tests.export.synthetic import trajectories, trajectory


def _canonical(store: Store, out: Path) -> bytes:
    manifest = export(store, {"format": "trajotel", "out": str(out)})
    assert manifest["files"][0]["records"] == manifest["counts"]["trajectories"]
    return out.read_bytes()


def test_export_import_export_is_byte_identical(store: Store, other_store: Store, tmp_path: Path) -> None:
    generated = fill(store, trajectories(40, full=True))
    fill(store, [trajectory(1000, full=True, tenant="team-b"), trajectory(1001, turns=1)])
    # People's edits and a reward set by feedback are part of what is exported.
    patch_trajectory(
        store,
        "default",
        generated[2].id,
        Patch.from_json(
            {
                "tags": {"add": ["golden"], "remove": ["synthetic"]},
                "outcome": {"label": "failure", "reason": "wrong city"},
                "metadata": {"reviewer": "ana", "i": None},
            }
        ),
    )
    write_feedback(
        store, "default", [new_feedback(generated[3].id, value=0.875, source="human", comment="ok")]
    )
    write_feedback(store, "default", [new_feedback(generated[3].id, value=1.0, source="api", turn_index=0)])

    first = _canonical(store, tmp_path / "first.jsonl")
    lines = first.decode().splitlines()
    assert len(lines) == 42
    exported = {t.id: t for t in map(Trajectory.from_json, lines)}
    assert exported[generated[0].id] == generated[0]  # every field survives the store
    assert exported[generated[3].id].reward == 0.875 and exported[generated[3].id].turns[0].reward == 1.0
    assert "golden" in exported[generated[2].id].tags and exported[generated[2].id].outcome.source == "edit"
    assert all(line == exported[json.loads(line)["id"]].to_json() for line in lines)

    report = import_files(other_store, [tmp_path / "first.jsonl"], ImportOptions(format="trajotel"))
    assert (report.read, report.imported, report.existing) == (42, 42, 0)
    second = _canonical(other_store, tmp_path / "second.jsonl")
    assert second == first
    assert read_trajectory(other_store, generated[3].id) == exported[generated[3].id]

    # Importing again finds every trajectory there already and changes nothing.
    again = import_files(other_store, [tmp_path / "first.jsonl"], ImportOptions(format="trajotel"))
    assert (again.imported, again.existing) == (0, 42)
    assert _canonical(other_store, tmp_path / "third.jsonl") == first
    imports = other_store.query("SELECT count(), any(format) FROM imports").rows[0]
    assert tuple(imports) == (42, "trajotel")


def test_replace_writes_a_newer_version(store: Store, other_store: Store, tmp_path: Path) -> None:
    fill(store, [trajectory(1, full=True)])
    _canonical(store, tmp_path / "a.jsonl")
    changed = trajectory(1, full=True)
    changed.task = "another task"
    fill(other_store, [changed])
    report = import_files(other_store, [tmp_path / "a.jsonl"], ImportOptions(on_conflict="replace"))
    assert report.imported == 1
    found = read_trajectory(other_store, changed.id)
    assert found is not None and found.version == changed.version + 1 and found.task != "another task"
