"""trl-sft, trl-dpo, trl-kto, trl-grpo as Parquet: written as the export driver writes them (the
format's fixed schema, several row groups), loaded by ``datasets`` in the ``hf`` consumer venv and
compared with the records the format made (``--expect``: only the keys a message lacked may come
back, as null), then classified and rendered by TRL as the JSONL versions are
(validators/hf_datasets.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from trajotel.errors import InvalidInputError
from trajotel.export.format import ExportOptions, Format
from trajotel.export.formats import trl_dpo, trl_grpo, trl_kto, trl_sft
from trajotel.export.registry import load_formats
from trajotel.export.run import export
from trajotel.export.writers import DataFile, SchemaFiles
from trajotel.store import Store

from tests.export.conftest import fill
from tests.export.formats import samples
from tests.export.formats.conftest import Validate
from tests.export.formats.files import collect, write_jsonl

PARQUET = ExportOptions(file_type="parquet")
# Parquet arguments are JSON strings: Qwen3's template prints them; Qwen3.6's iterates them.
TEMPLATE = "qwen3_training"


def write(path: Path, fmt: Format, records: list[dict[str, Any]]) -> Path:
    """As the driver writes them: the format's schema(s), row groups of two records."""
    out: DataFile | SchemaFiles
    if fmt.parquet_schema_of is not None:
        out = SchemaFiles(path, fmt.parquet_schema_of, schema=fmt.parquet_schema, row_group=2)
    else:
        out = DataFile(path, "parquet", schema=fmt.parquet_schema, row_group=2)
    for record in records:
        out.write(record)
    infos = out.finish()
    out.commit()
    assert [i.path for i in (infos if isinstance(infos, list) else [infos])] == [path]  # one file
    return path


def check(
    tmp_path: Path, hf: Validate, kind: str, fmt: Format, records: list[dict[str, Any]], name: str
) -> dict[str, Any]:
    assert records
    path = write(tmp_path / f"{name}.parquet", fmt, records)
    expect = write_jsonl(tmp_path / f"{name}.jsonl", records)
    summary = hf("hf_datasets.py", kind, path, TEMPLATE, "--expect", expect)
    assert summary["rows"] == len(records)
    return summary


def calls(records: list[dict[str, Any]]) -> list[Any]:
    return [
        c["function"]["arguments"]
        for r in records
        for key in ("messages", "prompt", "completion", "chosen", "rejected")
        for m in r.get(key) or ()
        for c in m.get("tool_calls") or ()
    ]


def test_sft_messages(tmp_path: Path, hf: Validate) -> None:
    records = collect(trl_sft.FORMAT, samples.all_runs(), PARQUET)
    assert len(records) == 6  # string arguments: the raw-arguments run is expressible
    summary = check(tmp_path, hf, "sft", trl_sft.FORMAT, records, "sft")
    assert summary["templates"][TEMPLATE]["assistant_tokens"] > 0
    arguments = calls(records)
    assert arguments and all(isinstance(a, str) for a in arguments)
    assert json.loads(records[0]["messages"][2]["tool_calls"][1]["function"]["arguments"]) == {
        "city": "Atlantis"
    }
    assert pq.read_schema(tmp_path / "sft.parquet").equals(trl_sft.parquet_schema())


def test_sft_prompt_completion(tmp_path: Path, hf: Validate) -> None:
    records = collect(trl_sft.FORMAT, samples.all_runs(), ExportOptions(level="turn", file_type="parquet"))
    summary = check(tmp_path, hf, "sft", trl_sft.FORMAT, records, "turns")
    assert summary["templates"][TEMPLATE]["completion_tokens"] > 0
    assert set(pq.read_schema(tmp_path / "turns.parquet").names) == {"prompt", "completion", "tools"}


def test_string_arguments_need_a_template_that_takes_them(tmp_path: Path, hf: Validate) -> None:
    records = collect(trl_sft.FORMAT, samples.all_runs(), PARQUET)
    path = write(tmp_path / "sft.parquet", trl_sft.FORMAT, records)
    hf("hf_datasets.py", "sft", path, "qwen3_6_training", reject="apply_chat_template")


def test_dpo(tmp_path: Path, hf: Validate) -> None:
    records = collect(trl_dpo.FORMAT, [samples.weather_group()], PARQUET)
    assert len(records) == 2
    check(tmp_path, hf, "dpo", trl_dpo.FORMAT, records, "dpo")


def test_kto(tmp_path: Path, hf: Validate) -> None:
    runs = [*samples.all_runs(), *samples.weather_group()]
    records = collect(trl_kto.FORMAT, runs, PARQUET)
    assert [r["label"] for r in records] == [
        True,
        False,
        True,
        True,
        True,
        True,
        False,
        True,
        False,
    ]  # as JSONL
    check(tmp_path, hf, "kto", trl_kto.FORMAT, records, "kto")
    turns = collect(trl_kto.FORMAT, samples.all_runs(), ExportOptions(level="turn", file_type="parquet"))
    check(tmp_path, hf, "kto", trl_kto.FORMAT, turns, "kto-turns")


def test_grpo(tmp_path: Path, hf: Validate) -> None:
    options = ExportOptions(metadata_keys=("ground_truth", "missing"), file_type="parquet")
    records = collect(trl_grpo.FORMAT, samples.all_runs(), options)
    check(tmp_path, hf, "grpo", trl_grpo.FORMAT, records, "grpo")
    first = records[0]
    assert first["ground_truth"] == "18C" and first["missing"] is None and first["reference_reward"] == 1.0
    schema = pq.read_schema(tmp_path / "grpo.parquet")
    assert schema.field("ground_truth").type == pa.string()


def test_object_arguments_are_refused_for_parquet() -> None:
    options = ExportOptions(tool_arguments="object", file_type="parquet")
    for fmt in (trl_sft.FORMAT, trl_kto.FORMAT, trl_grpo.FORMAT):
        with pytest.raises(InvalidInputError, match="--tool-arguments object"):
            collect(fmt, samples.all_runs(), options)
    with pytest.raises(InvalidInputError, match="--tool-arguments object"):
        collect(trl_dpo.FORMAT, [samples.weather_group()], options)
    # Object arguments do not fit the fixed schema either: nothing is written changed.
    records = collect(trl_sft.FORMAT, samples.all_runs())
    with pytest.raises(pa.ArrowTypeError):
        pa.Table.from_pylist(records, schema=trl_sft.parquet_schema())


def test_a_null_filling_schema_is_rejected(tmp_path: Path, hf: Validate) -> None:
    """What the fixed schema prevents: object arguments written with an inferred schema come back
    with each other's argument names as nulls (``{"city": ..., "query": null}``), and the
    ``--expect`` check rejects them."""
    records = collect(trl_sft.FORMAT, samples.all_runs())  # object arguments (JSONL's form)
    names = {tuple(sorted(a)) for a in calls(records) if isinstance(a, dict)}
    assert len(names) > 1  # calls with different argument names
    path = tmp_path / "merged.parquet"
    pq.write_table(pa.Table.from_pylist(records), path)
    expect = write_jsonl(tmp_path / "records.jsonl", records)
    hf("hf_datasets.py", "sft", path, TEMPLATE, "--expect", expect, reject="for the record")


def test_the_driver_writes_parquet(store: Store, tmp_path: Path) -> None:
    """``--out x.parquet`` through the export driver: the format's schema, every record."""
    fill(store, [*samples.all_runs(), *samples.weather_group()])
    for name, level in [("trl-sft", "trajectory"), ("trl-sft", "turn"), ("trl-dpo", "trajectory"),
                        ("trl-kto", "turn"), ("trl-grpo", "trajectory")]:  # fmt: skip
        out = tmp_path / f"{name}-{level}.parquet"
        manifest = export(store, {"format": name, "out": str(out), "level": level})
        (info,) = manifest["files"]
        assert info["records"] == pq.read_metadata(out).num_rows > 0, name
        records = pq.read_table(out).to_pylist()
        fmt = load_formats().get(name)
        schema = fmt.parquet_schema_of(records[0]) if fmt.parquet_schema_of else fmt.parquet_schema()
        assert pq.read_schema(out).equals(schema), name
    with pytest.raises(InvalidInputError, match="--tool-arguments object"):
        export(
            store, {"format": "trl-sft", "out": str(tmp_path / "objects.parquet"), "tool_arguments": "object"}
        )
    assert not (tmp_path / "objects.parquet").exists()
