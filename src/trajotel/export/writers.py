"""Dataset files, written atomically: records go to a hidden temporary file beside the final path,
which is flushed to disk and renamed into place only when the whole export succeeded (a reader
never sees half a file; a failed export leaves nothing). Every file's SHA-256 is computed as it
is written, for the manifest.

* ``jsonl``: one JSON object per line (UTF-8, keys sorted, no extra whitespace).
* ``json``: one JSON array of the records, one record per line.
* ``parquet``: ZSTD-compressed, row groups of ``row_group`` records; the schema is the format's
  (``Format.parquet_schema``) or, without one, inferred from the first row group. A format whose
  records differ in nested structure (``Format.parquet_schema_of``) gets one file per distinct
  schema (``SchemaFiles``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from trajotel.errors import InvalidInputError

EXTENSIONS = {"jsonl": ".jsonl", "json": ".json", "parquet": ".parquet"}


def encode(record: Any) -> bytes:
    """A record as the byte-stable JSON every file type shares (Trajectory.to_json's settings)."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class FileInfo:
    path: Path
    records: int
    bytes: int
    sha256: str


def temporary_path(final: Path) -> Path:
    return final.with_name(f".{final.name}.{os.getpid()}.tmp")


def writable(path: Path) -> None:
    """Fail now, before reading anything, when ``path``'s directory cannot take new files."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe = temporary_path(path).with_suffix(".probe")
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise InvalidInputError(
            f"cannot write to {path}: {exc.strerror or exc}",
            hint="choose an --out path in a directory you can write to",
        ) from None


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a directory be synced
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class DataFile:
    """One output file; ``write`` records, then ``finish`` (flush and checksum) and ``commit``
    (rename into place), or ``discard``."""

    def __init__(
        self,
        final: Path,
        file_type: str,
        *,
        schema: Callable[[], Any] | None = None,
        row_group: int = 1000,
    ) -> None:
        self.final = final
        self.file_type = file_type
        self.tmp = temporary_path(final)
        self.records = 0
        self._schema = schema
        self._row_group = row_group
        self._pending: list[dict[str, Any]] = []
        self._parquet: Any = None
        self._digest = hashlib.sha256()
        self._size = 0
        self._fh: IO[bytes] | None = None
        self.info: FileInfo | None = None
        try:
            self._fh = open(self.tmp, "wb")  # noqa: SIM115 (closed by finish / discard)
        except OSError as exc:
            raise InvalidInputError(f"cannot write to {final}: {exc.strerror or exc}") from None
        if file_type == "json":
            self._put(b"[")

    def _put(self, data: bytes) -> None:
        assert self._fh is not None
        self._fh.write(data)
        self._digest.update(data)
        self._size += len(data)

    def write(self, record: dict[str, Any], encoded: bytes | None = None) -> None:
        if self.file_type == "parquet":
            self._pending.append(record)
            if len(self._pending) >= self._row_group:
                self._flush_parquet()
        else:
            line = encoded if encoded is not None else encode(record)
            if self.file_type == "json":
                self._put(b"\n" if self.records == 0 else b",\n")
            self._put(line if self.file_type == "json" else line + b"\n")
        self.records += 1

    def _flush_parquet(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._parquet is None:
            schema = self._schema() if self._schema is not None else None
            table = pa.Table.from_pylist(self._pending, schema=schema)
            self._parquet = pq.ParquetWriter(self._fh, table.schema, compression="zstd")
        else:
            table = pa.Table.from_pylist(self._pending, schema=self._parquet.schema)
        self._parquet.write_table(table)
        self._pending = []

    def finish(self) -> FileInfo:
        """Complete the file on disk (flushed and synced) and checksum it."""
        assert self._fh is not None
        if self.file_type == "parquet":
            if self._pending or self._parquet is None:  # no records and no schema: no columns
                self._flush_parquet()
            self._parquet.close()
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._digest, self._size = _checksum(self.tmp)
        else:
            if self.file_type == "json":
                self._put(b"\n]\n" if self.records else b"]\n")
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
        self._fh = None
        self.info = FileInfo(self.final, self.records, self._size, self._digest.hexdigest())
        return self.info

    def commit(self) -> None:
        os.replace(self.tmp, self.final)
        _fsync_directory(self.final.parent)

    def discard(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(Exception):
                if self._parquet is not None:
                    self._parquet.close()
            self._fh.close()
            self._fh = None
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()


MAX_SCHEMA_FILES = 64


class SchemaFiles:
    """Parquet records of differing nested structure (free-form JSON: tool schemas), one file per
    distinct schema, so that no record is read back with another's fields as nulls (one struct
    type per column): ``BASE.parquet`` when they all share one, else ``BASE-00000.parquet``,
    ``BASE-00001.parquet``, ... numbered in the order their schemas first came (the same input
    gives the same names). At most ``max_files`` files (an error past that); the records they
    hold in memory are at most ``row_group`` together (the file holding the most writes them as a
    row group). ``DataFile``'s interface, but ``finish`` returns one ``FileInfo`` per file."""

    def __init__(
        self,
        final: Path,
        schema_of: Callable[[dict[str, Any]], Any],
        *,
        schema: Callable[[], Any] | None = None,
        row_group: int = 1000,
        max_files: int = MAX_SCHEMA_FILES,
    ) -> None:
        self.final = final
        self.records = 0
        self._schema_of = schema_of
        self._schema = schema  # an empty export's file
        self._row_group = row_group
        self._max_files = max_files
        self._files: dict[bytes, DataFile] = {}

    def _numbered(self, n: int) -> Path:
        return self.final.with_name(f"{self.final.stem}-{n:05d}{self.final.suffix}")

    def write(self, record: dict[str, Any], encoded: bytes | None = None) -> None:
        schema = self._schema_of(record)
        key = schema.serialize().to_pybytes()
        target = self._files.get(key)
        if target is None:
            if len(self._files) >= self._max_files:
                raise InvalidInputError(
                    f"{self.final.name}: the records need more than {self._max_files} Parquet files "
                    "(one per distinct structure, e.g. per tool set)",
                    hint="export fewer kinds of runs at a time (--agent, --service, --where)",
                )
            target = DataFile(
                self._numbered(len(self._files)), "parquet", schema=lambda: schema, row_group=self._row_group
            )
            self._files[key] = target
        target.write(record)
        self.records += 1
        if sum(len(f._pending) for f in self._files.values()) >= self._row_group:
            max(self._files.values(), key=lambda f: len(f._pending))._flush_parquet()

    def finish(self) -> list[FileInfo]:
        if not self._files:
            self._files[b""] = DataFile(self.final, "parquet", schema=self._schema, row_group=self._row_group)
        elif len(self._files) == 1:
            (only,) = self._files.values()
            only.final = self.final  # renamed into place under the plain name
        return [f.finish() for f in self._files.values()]

    def commit(self) -> None:
        for f in self._files.values():
            f.commit()

    def discard(self) -> None:
        for f in self._files.values():
            f.discard()


def _checksum(path: Path) -> tuple[Any, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest, size


def write_atomically(path: Path, data: bytes) -> None:
    """A small file (a manifest) written to a temporary name and renamed into place."""
    tmp = temporary_path(path)
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_directory(path.parent)
