"""A durable, append-only on-disk queue between the receivers and the store writer.

The receivers append each accepted OTLP request and acknowledge the exporter only once the
append is on disk (fdatasync, shared by concurrent appenders: group commit). The writer reads
records after the checkpoint, stores them, then advances the checkpoint; after a crash the
records past the checkpoint are read again, so nothing acknowledged is lost.

Layout: ``seg-<12 digit number>.log`` files of records ``<u32 length><u32 crc32><u8 kind><payload>``
(the checksum covers the kind and the payload, and starts from a non-zero seed so that a
zero-filled tail left by a power loss never reads as a record)
and a ``checkpoint`` file ``<segment> <offset> <pending segment> <pending offset>``, replaced
atomically. The pending position is the end of the batch being written, so a restarted writer
forms the same first batch (and the store's insert deduplication recognizes it). A spool also
has an ``id``, made when its directory is first used: positions repeat from spool to spool (a
new data directory, several collectors writing into one ClickHouse), so batch identities are
``<spool id>:<positions>``, never positions alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import threading
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from trajotel.errors import BackpressureError, TrajotelError

log = logging.getLogger(__name__)

KIND_TRACES = 1
KIND_LOGS = 2
_KINDS = frozenset({KIND_TRACES, KIND_LOGS})
_HEADER = struct.Struct("<IIB")
_MAX_RECORD = 1 << 31
_CRC_SEED = 0x7472616A  # "traj"


def _checksum(kind: int, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(bytes([kind]), _CRC_SEED))


@dataclass(frozen=True, order=True)
class Position:
    segment: int
    offset: int

    def __str__(self) -> str:
        return f"{self.segment}:{self.offset}"


@dataclass(frozen=True)
class Record:
    start: Position
    end: Position
    kind: int
    payload: bytes


class SpoolError(TrajotelError):
    """The spool directory cannot be used."""


def _segment_name(number: int) -> str:
    return f"seg-{number:012d}.log"


class Spool:
    def __init__(self, directory: Path, *, max_bytes: int, segment_bytes: int, fsync: bool = True) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.fsync = fsync
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpoolError(f"cannot create spool directory {self.directory}: {exc}") from exc
        self._lock = threading.Lock()  # guards the active segment and counters
        self._sync = threading.Condition()  # group commit of fdatasync
        self._data = threading.Condition()  # wakes the reader on new records
        self._written_seq = 0  # records written (not necessarily synced)
        self._synced_seq = 0
        self._syncing = False
        self.id = self._load_id()
        self.checkpoint, self.pending = self._load_checkpoint()
        segments = self.segments()
        self._segment = max(segments[-1] if segments else 0, self.checkpoint.segment)
        self._repair_tail(self._segment)
        if (
            self._segment == self.checkpoint.segment
            and self._file_size(self._segment) < self.checkpoint.offset
        ):
            # An OS crash lost the end of the segment the checkpoint points into: append in a
            # new segment, or new records would sit before the checkpoint and never be read.
            log.warning(
                "spool: %s is shorter than its checkpoint; continuing in a new segment",
                _segment_name(self._segment),
            )
            self._segment += 1
        self._fd = os.open(self._path(self._segment), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._size = os.fstat(self._fd).st_size
        # Readers see records only up to here: what is on disk for sure (fdatasync'ed).
        self._durable = Position(self._segment, self._size)
        self._closed = False

    # --- segments & checkpoint -------------------------------------------------
    def segments(self) -> list[int]:
        found = []
        for entry in self.directory.iterdir():
            name = entry.name
            if name.startswith("seg-") and name.endswith(".log"):
                found.append(int(name[4:-4]))
        return sorted(found)

    def _path(self, segment: int) -> Path:
        return self.directory / _segment_name(segment)

    def _file_size(self, segment: int) -> int:
        try:
            return self._path(segment).stat().st_size
        except FileNotFoundError:
            return 0

    def _load_id(self) -> str:
        path = self.directory / "id"
        try:
            found = path.read_text().strip()
        except FileNotFoundError:
            found = ""
        except OSError as exc:
            raise SpoolError(f"cannot read {path}: {exc}") from exc
        if found:
            return found
        made = uuid.uuid4().hex
        tmp = path.with_suffix(".tmp")
        try:
            with open(tmp, "w") as fh:
                fh.write(made + "\n")
                fh.flush()
                if self.fsync:
                    os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            raise SpoolError(f"cannot write {path}: {exc}") from exc
        return made

    def _load_checkpoint(self) -> tuple[Position, Position | None]:
        path = self.directory / "checkpoint"
        try:
            fields = [int(x) for x in path.read_text().split()]
        except FileNotFoundError:
            first = self.segments()
            return Position(first[0] if first else 0, 0), None
        except (OSError, ValueError) as exc:
            raise SpoolError(
                f"spool checkpoint {path} is unreadable: {exc}",
                hint="restore it or delete it to replay the whole spool",
            ) from exc
        if len(fields) not in (2, 4):
            raise SpoolError(
                f"spool checkpoint {path} is malformed: {fields}",
                hint="restore it or delete it to replay the whole spool",
            )
        done = Position(fields[0], fields[1])
        pending = Position(fields[2], fields[3]) if len(fields) == 4 else None
        return done, pending

    def _write_checkpoint(self) -> None:
        path = self.directory / "checkpoint"
        tmp = path.with_suffix(".tmp")
        text = f"{self.checkpoint.segment} {self.checkpoint.offset}"
        if self.pending is not None:
            text += f" {self.pending.segment} {self.pending.offset}"
        with open(tmp, "w") as fh:
            fh.write(text + "\n")
            fh.flush()
            if self.fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)

    def mark_pending(self, end: Position) -> None:
        """Record that the batch up to ``end`` is being written to the store."""
        self.pending = end
        self._write_checkpoint()

    def commit(self, end: Position) -> None:
        """Records before ``end`` are in the store: advance and drop fully consumed segments."""
        self.checkpoint = end
        self.pending = None
        self._write_checkpoint()
        for segment in self.segments():
            if segment < end.segment:
                with contextlib.suppress(FileNotFoundError):
                    self._path(segment).unlink()

    def _repair_tail(self, segment: int) -> None:
        """Cut a torn record at the end of the newest segment (a crash mid-append; never acknowledged)."""
        path = self._path(segment)
        if not path.exists():
            return
        good = 0
        for record in self._scan(segment, 0):
            good = record.end.offset
        if good < path.stat().st_size:
            log.warning(
                "spool: dropping %d bytes of a torn, unacknowledged record at the end of %s",
                path.stat().st_size - good,
                path.name,
            )
            os.truncate(path, good)

    # --- appending -------------------------------------------------------------
    def unconsumed_bytes(self) -> int:
        total = 0
        for segment in self.segments():
            if segment < self.checkpoint.segment:
                continue
            size = self._path(segment).stat().st_size if segment != self._segment else self._size
            total += size - (self.checkpoint.offset if segment == self.checkpoint.segment else 0)
        return total

    def append(self, kind: int, payload: bytes) -> None:
        """Append one record; returns once it is durable. Raises BackpressureError when full."""
        if len(payload) >= _MAX_RECORD:
            raise SpoolError(f"record of {len(payload)} bytes exceeds the spool's record limit")
        if kind not in _KINDS:
            raise SpoolError(f"unknown spool record kind {kind}")
        header = _HEADER.pack(len(payload), _checksum(kind, payload), kind)
        with self._lock:
            if self._closed:
                raise SpoolError("the spool is closed (collector shutting down)")
            if self.max_bytes and self.unconsumed_bytes() + len(payload) > self.max_bytes:
                raise BackpressureError(
                    f"the collector's spool holds more than {self.max_bytes} unwritten bytes",
                    retry_after_s=2.0,
                    hint="the store is slower than incoming spans; raise spool.max_bytes or check the store",
                )
            if self._size >= self.segment_bytes:
                self._rotate()
            os.write(self._fd, header + payload)
            self._size += len(header) + len(payload)
            self._written_seq += 1
            my_seq = self._written_seq
            if not self.fsync:
                self._durable = Position(self._segment, self._size)
        if self.fsync:
            self._wait_synced(my_seq)
        self.wake_readers()

    def _rotate(self) -> None:
        if self.fsync:
            os.fdatasync(self._fd)
        os.close(self._fd)
        self._segment += 1
        self._fd = os.open(self._path(self._segment), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._size = 0

    def _wait_synced(self, seq: int) -> None:
        with self._sync:
            while self._synced_seq < seq:
                if self._syncing:
                    self._sync.wait()
                    continue
                self._syncing = True
                with self._lock:
                    # A duplicate descriptor: a rotation may close the original meanwhile (it
                    # syncs the old segment itself before closing it).
                    target, fd = self._written_seq, os.dup(self._fd)
                    position = Position(self._segment, self._size)
                self._sync.release()
                synced = False
                try:
                    os.fdatasync(fd)
                    synced = True
                finally:
                    os.close(fd)
                    self._sync.acquire()
                    self._syncing = False
                    if synced:
                        self._synced_seq = max(self._synced_seq, target)
                        with self._lock:
                            self._durable = max(self._durable, position)
                    self._sync.notify_all()

    # --- reading ---------------------------------------------------------------
    def _scan(self, segment: int, offset: int, limit: int | None = None) -> Iterator[Record]:
        """Complete records of ``segment`` from ``offset``, not past byte ``limit``."""
        path = self._path(segment)
        if not path.exists():
            return
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if limit is not None:
                size = min(size, limit)
            fh.seek(offset)
            while offset + _HEADER.size <= size:
                length, crc, kind = _HEADER.unpack(fh.read(_HEADER.size))
                if kind not in _KINDS or offset + _HEADER.size + length > size:
                    return  # an append in progress, a torn tail or garbage: stop here
                payload = fh.read(length)
                if len(payload) < length or _checksum(kind, payload) != crc:
                    return
                end = offset + _HEADER.size + length
                yield Record(Position(segment, offset), Position(segment, end), kind, payload)
                offset = end

    def read(self, start: Position, max_records: int) -> list[Record]:
        """Up to ``max_records`` complete records from ``start``, crossing segment boundaries."""
        out: list[Record] = []
        segment, offset = start.segment, start.offset
        with self._lock:
            durable = self._durable
        newest = durable.segment
        while len(out) < max_records:
            got_any = False
            limit = durable.offset if segment == durable.segment else None
            for record in self._scan(segment, offset, limit):
                out.append(record)
                got_any = True
                offset = record.end.offset
                if len(out) >= max_records:
                    return out
            if segment >= newest:
                return out
            segment, offset = segment + 1, 0
            if not got_any and not self._path(segment).exists():
                return out
        return out

    def wait_for_data(self, timeout: float) -> None:
        with self._data:
            self._data.wait(timeout)

    def wake_readers(self) -> None:
        """End every ``wait_for_data`` now (new data, or shutting down)."""
        with self._data:
            self._data.notify_all()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self.fsync:
                os.fdatasync(self._fd)
            os.close(self._fd)
        self.wake_readers()
