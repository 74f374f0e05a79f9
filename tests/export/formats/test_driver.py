"""Every format through the export driver (trajotel.export.run) on a real store: the formats load
from the registry, the driver's grouping, writers and Parquet schema take their records, and the
files it writes pass the in-process consumer checks."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from trajotel.export.registry import load_formats
from trajotel.export.run import export
from trajotel.store import Store

from tests.export.conftest import fill
from tests.export.formats import samples
from tests.export.formats.files import renamed
from tests.export.formats.validators import openai_files, trae_schema

MINE = [
    "agent-lightning", "art", "fireworks", "fireworks-sft", "openai-dpo", "openai-rft", "openai-sft",
    "sharegpt", "trae", "trl-dpo", "trl-grpo", "trl-kto", "trl-sft", "verl",
]  # fmt: skip


def test_all_formats_load() -> None:
    registry = load_formats()
    assert registry.broken == {}
    assert set(MINE) <= set(registry.formats)


def test_the_driver_writes_every_format(store: Store, tmp_path: Path) -> None:
    runs = [renamed(t, str(k)) for k in range(3) for t in samples.all_runs()]
    fill(store, [*runs, *samples.weather_group()])
    for name in MINE:
        fmt = load_formats().get(name)
        manifest = export(store, {"format": name, "out": str(tmp_path / name)})
        (info,) = manifest["files"]
        assert info["records"] > 0, (name, manifest["counts"])
        path = tmp_path / info["path"]
        if name in ("openai-sft", "openai-dpo", "openai-rft"):
            openai_files.validate(name.split("-")[1], path, min_examples=1)
        elif name == "trae":
            trae_schema.validate(path)
        elif fmt.parquet_schema is not None:
            assert pq.read_schema(path).equals(fmt.parquet_schema()), name
