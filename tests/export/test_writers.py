"""The files exports write: JSONL, a JSON array, Parquet (with the format's schema or inferred),
atomically, with checksums of what is on disk."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from trajotel.errors import InvalidInputError
from trajotel.export.writers import DataFile, SchemaFiles

RECORDS = [
    {"prompt": [{"role": "user", "content": f"task {i}"}], "reward": i / 4, "tags": ["a"] * i}
    for i in range(5)
]


def _written(path: Path, file_type: str, **options: object) -> DataFile:
    data = DataFile(path, file_type, **options)  # type: ignore[arg-type]
    for record in RECORDS:
        data.write(record)
    info = data.finish()
    assert not path.exists()  # nothing at the final path before commit
    data.commit()
    assert info.records == len(RECORDS) and info.bytes == path.stat().st_size
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    return data


def test_jsonl_and_json_array(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    _written(tmp_path / "a" / "x.jsonl", "jsonl")
    lines = (tmp_path / "a" / "x.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == RECORDS
    assert lines[0] == json.dumps(RECORDS[0], sort_keys=True, separators=(",", ":"))
    (tmp_path / "b").mkdir()
    _written(tmp_path / "b" / "x.json", "json")
    assert json.loads((tmp_path / "b" / "x.json").read_text()) == RECORDS


def test_parquet_with_a_schema_and_inferred(tmp_path: Path) -> None:
    schema = pa.schema(
        [
            ("prompt", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
            ("reward", pa.float64()),
            ("tags", pa.list_(pa.string())),
        ]
    )
    for name, options in (("given", {"schema": lambda: schema}), ("inferred", {})):
        (tmp_path / name).mkdir()
        path = tmp_path / name / "x.parquet"
        _written(path, "parquet", row_group=2, **options)
        table = pq.read_table(path)
        assert table.to_pylist() == RECORDS
        assert pq.ParquetFile(path).metadata.num_row_groups == 3
        if name == "given":
            assert table.schema.equals(schema)


def test_empty_files_and_discard(tmp_path: Path) -> None:
    for file_type, expected in (("jsonl", ""), ("json", "[]\n")):
        path = tmp_path / f"empty.{file_type}"
        data = DataFile(path, file_type)
        data.finish()
        data.commit()
        assert path.read_text() == expected
    empty = DataFile(tmp_path / "empty.parquet", "parquet")
    empty.finish()
    empty.commit()
    assert pq.read_table(tmp_path / "empty.parquet").num_rows == 0
    dropped = DataFile(tmp_path / "dropped.jsonl", "jsonl")
    dropped.write(RECORDS[0])
    dropped.discard()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.json", "empty.jsonl", "empty.parquet"]


def test_records_that_do_not_fit_the_schema_fail_clearly(tmp_path: Path) -> None:
    data = DataFile(
        tmp_path / "x.parquet", "parquet", schema=lambda: pa.schema([("reward", pa.float64())]), row_group=1
    )
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError, TypeError)):
        data.write({"reward": "high"})
    data.discard()
    assert list(tmp_path.iterdir()) == []


def _by_shape(record: dict) -> pa.Schema:
    return pa.Table.from_pylist([record]).schema


SHAPED = [{"tool": {"city": "Paris"}}, {"tool": {"query": "picnic", "limit": 3}}, {"tool": {"city": "Rome"}}]


def test_schema_files_one_file_per_structure(tmp_path: Path) -> None:
    files = SchemaFiles(tmp_path / "x.parquet", _by_shape, row_group=2)
    for record in SHAPED:
        files.write(record)
    infos = files.finish()
    assert list(tmp_path.iterdir()) != [] and not any(i.path.exists() for i in infos)  # temporary only
    files.commit()
    # Numbered in the order the structures came; nobody gains another's fields as nulls.
    assert [(i.path.name, i.records) for i in infos] == [("x-00000.parquet", 2), ("x-00001.parquet", 1)]
    assert pq.read_table(tmp_path / "x-00000.parquet").to_pylist() == [SHAPED[0], SHAPED[2]]
    assert pq.read_table(tmp_path / "x-00001.parquet").to_pylist() == [SHAPED[1]]
    for info in infos:
        assert info.sha256 == hashlib.sha256(info.path.read_bytes()).hexdigest()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x-00000.parquet", "x-00001.parquet"]


def test_schema_files_one_structure_or_none_keep_the_plain_name(tmp_path: Path) -> None:
    one = SchemaFiles(tmp_path / "one.parquet", _by_shape)
    one.write(SHAPED[0])
    (info,) = one.finish()
    one.commit()
    assert info.path.name == "one.parquet" and pq.read_table(info.path).to_pylist() == [SHAPED[0]]
    schema = pa.schema([("tool", pa.null())])
    empty = SchemaFiles(tmp_path / "empty.parquet", _by_shape, schema=lambda: schema)
    (info,) = empty.finish()
    empty.commit()
    assert info.records == 0 and pq.read_schema(info.path).equals(schema)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.parquet", "one.parquet"]


def test_schema_files_hold_one_row_group_in_memory_and_a_bounded_number_of_files(tmp_path: Path) -> None:
    files = SchemaFiles(tmp_path / "x.parquet", _by_shape, row_group=3, max_files=2)
    for i in range(10):
        files.write(SHAPED[i % 2])
        assert sum(len(f._pending) for f in files._files.values()) < 3
    with pytest.raises(InvalidInputError, match="more than 2 Parquet files"):
        files.write({"other": 1})
    files.discard()
    assert list(tmp_path.iterdir()) == []
