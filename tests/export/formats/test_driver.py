"""Every format through the export driver (trajotel.export.run) on a real store: the formats load
from the registry, the driver's grouping, writers and Parquet schema take their records, and the
files it writes pass the in-process consumer checks."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from trajotel.export.registry import load_formats
from trajotel.export.run import export
from trajotel.store import Store
from trajotel.store import exports as ledger

from tests.export.conftest import fill
from tests.export.formats import samples
from tests.export.formats.files import renamed
from tests.export.formats.test_verl_sft import runs_with_different_tool_sets
from tests.export.formats.validators import openai_files, trae_schema
from tests.export.formats.validators.verl_sft import read_as_verl

MINE = [
    "agent-lightning", "art", "fireworks", "fireworks-sft", "openai-dpo", "openai-rft", "openai-sft",
    "sharegpt", "trae", "trl-dpo", "trl-grpo", "trl-kto", "trl-sft", "verl", "verl-sft",
]  # fmt: skip


def test_all_formats_load() -> None:
    registry = load_formats()
    assert registry.broken == {}
    assert set(MINE) <= set(registry.formats)


def _nulls(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_nulls(v) for v in value.values())
    if isinstance(value, list):
        return any(_nulls(v) for v in value)
    return value is None


def _verl_sft_files(manifest: dict[str, Any], where: Path) -> list[Path]:
    """verl-sft's files: one per tool-set structure, each in the manifest with its checksum."""
    paths = [where / info["path"] for info in manifest["files"]]
    for info, path in zip(manifest["files"], paths, strict=True):
        assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert info["records"] == pq.read_metadata(path).num_rows
    rows = read_as_verl(paths)
    assert len(rows) == manifest["counts"]["records"] > 0
    assert not any(_nulls(row["tools"] or []) for row in rows)  # no tools gained foreign fields
    return paths


def test_the_driver_writes_every_format(store: Store, tmp_path: Path) -> None:
    runs = [renamed(t, str(k)) for k in range(3) for t in samples.all_runs()]
    fill(store, [*runs, *samples.weather_group(), *runs_with_different_tool_sets()])
    for name in MINE:
        fmt = load_formats().get(name)
        manifest = export(store, {"format": name, "out": str(tmp_path / name)})
        if name == "verl-sft":
            # The sample runs' tools differ in shape within each run: left out.
            assert manifest["counts"]["skipped"] == len(runs) + len(samples.weather_group())
            paths = _verl_sft_files(manifest, tmp_path)
            assert [p.name for p in paths] == [f"verl-sft-0000{i}.parquet" for i in range(3)]
            continue
        (info,) = manifest["files"]
        assert info["records"] > 0, (name, manifest["counts"])
        path = tmp_path / info["path"]
        if name in ("openai-sft", "openai-dpo", "openai-rft"):
            openai_files.validate(name.split("-")[1], path, min_examples=1)
        elif name == "trae":
            trae_schema.validate(path)
        elif path.suffix == ".parquet":  # the default file type (trl-* default to JSONL)
            assert pq.read_schema(path).equals(fmt.parquet_schema()), name


def test_a_named_verl_sft_run_records_and_removes_its_numbered_files(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(store, runs_with_different_tool_sets())
    manifest = export(store, {"format": "verl-sft", "out": str(tmp_path), "name": "v"})
    paths = _verl_sft_files(manifest, tmp_path)
    assert [p.name for p in paths] == [f"v-000001-0000{i}.parquet" for i in range(3)]
    (run,) = ledger.runs(store, "v")
    assert run.status == ledger.DONE
    assert run.files == [*map(str, paths), str(tmp_path / "v-000001.manifest.json")]
    # A run that fails after renaming its files into place leaves none of them.
    fill(store, [renamed(t, "again") for t in runs_with_different_tool_sets()])

    def fail(path: Path, data: bytes) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("trajotel.export.run.write_atomically", fail)
    with pytest.raises(OSError):
        export(store, {"name": "v"})
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == sorted(
        [*(p.name for p in paths), "v-000001.manifest.json"]
    )
    assert ledger.runs(store, "v")[-1].status == ledger.FAILED
