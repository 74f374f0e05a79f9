"""The export driver: store -> filter -> prepare -> group -> format -> dedup -> split -> files +
manifest (docs/export.md).

Trajectories stream through in pages (``read_trajectory_pages``), one page, one group and one
Parquet row group in memory at a time, so memory does not grow with how many are exported. A
named export is incremental: its runs record the trajectory versions they wrote
(``trajotel.store.exports``) and the next run leaves those out. Files are written beside their
final paths and renamed into place only when the run succeeded; the manifest comes last, and a
named run counts only once its manifest is in place (a run interrupted before is undone by the
next one).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from trajotel import __version__
from trajotel.assemble.model import Trajectory
from trajotel.config import Config
from trajotel.enrich.credit import METHODS
from trajotel.errors import ConfigError, InvalidInputError, StoreError, TrajotelError
from trajotel.export import shaping
from trajotel.export.format import Format
from trajotel.export.prepare import prepare
from trajotel.export.registry import load_formats
from trajotel.export.spec import ExportSpec, build_spec
from trajotel.export.writers import (
    EXTENSIONS,
    DataFile,
    FileInfo,
    SchemaFiles,
    encode,
    writable,
    write_atomically,
)
from trajotel.store import Store
from trajotel.store import exports as ledger
from trajotel.store.trajectory_query import (
    TrajectoryFilter,
    count_trajectories,
    group_key_expression,
    read_trajectory_pages,
)

log = logging.getLogger(__name__)

MANIFEST_VERSION = 1
Progress = Callable[[int, int], None]  # (trajectories read so far, trajectories matching)


@dataclass(frozen=True)
class ExportSettings:
    """``[export]`` limits (trajotel.config.ExportConfig)."""

    page_size: int = 1000  # trajectories per read from the store
    page_turns: int = 20_000  # turns per read, past its first trajectory
    parquet_row_group: int = 1000  # records per Parquet row group (held in memory until written)
    base_dir: Path | None = None  # relative --out paths resolve here (None: the working directory)


def settings_from_config(config: Config) -> ExportSettings:
    """``[export]``'s limits; relative --out paths (a schedule's) resolve under ``[export] dir``."""
    base = Path(config.export.dir).expanduser() if config.export.dir else config.data_dir / "exports"
    settings = ExportSettings(
        page_size=config.export.page_size,
        page_turns=config.export.page_turns,
        parquet_row_group=config.export.parquet_row_group,
        base_dir=base,
    )
    _check(settings)
    return settings


class ExportCancelled(TrajotelError):
    """The export was stopped (the collector is shutting down); nothing was written."""


MAX_SKIP_REASONS = 10


@dataclass
class Counts:
    trajectories: int = 0  # read and handed to the format
    records: int = 0  # written
    skipped: int = 0  # trajectories the format made no record of (it cannot express them)
    skip_reasons: Counter[str] = field(default_factory=Counter)  # records left out, by reason
    duplicates: int = 0  # records left out as identical to an earlier one (--dedup)
    truncated: int = 0
    groups: int = 0
    small_groups: int = 0  # trajectories left out: their group was smaller than --group-min-size
    first_start_ns: int = 0
    last_start_ns: int = 0
    newest_assembled_ns: int = 0


def stored_spec(store: Store, name: str) -> ExportSpec | None:
    """The definition of named export ``name``: its latest run's (a reset's too)."""
    for run in reversed(ledger.runs(store, name)):
        if run.spec and run.spec != "{}":
            return ExportSpec.from_dict(json.loads(run.spec))
    return None


def export(
    store: Store,
    given: dict[str, Any],
    settings: ExportSettings | None = None,
    *,
    reset: bool = False,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> dict[str, Any]:
    """Run the export the ``given`` settings describe (over a named export's stored definition
    when ``name`` is given); returns the manifest."""
    settings = settings or ExportSettings()
    name = given.get("name")
    base = stored_spec(store, name) if name else None
    spec = build_spec(given, base)
    if base is not None and not reset and spec.definition() != base.definition():
        changed = sorted(k for k, v in spec.definition().items() if base.definition().get(k) != v)
        raise InvalidInputError(
            f"export {name!r} was defined differently before ({', '.join(changed)} changed)",
            hint=f"repeat it with `--name {name}` alone, start it over with --reset, or use a new --name",
        )
    return run_export(store, spec, settings, reset=reset, progress=progress, cancel=cancel)


def run_export(
    store: Store,
    spec: ExportSpec,
    settings: ExportSettings | None = None,
    *,
    reset: bool = False,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> dict[str, Any]:
    settings = settings or ExportSettings()
    _check(settings)
    fmt = load_formats().get(spec.format)
    file_type = _file_type(spec, fmt)
    if spec.level not in fmt.levels:
        raise InvalidInputError(
            f"format {fmt.name!r} writes {' or '.join(fmt.levels)}-level records, not {spec.level}-level",
            hint=f"use --level {fmt.levels[0]}",
        )
    if spec.credit not in METHODS:
        raise InvalidInputError(
            f"unknown credit method {spec.credit!r}", hint=f"methods: {', '.join(METHODS)}"
        )
    group_key_expression(spec.group_by)  # refuses an unknown key before anything is read
    out = Path(spec.out).expanduser()
    if not out.is_absolute():
        out = (settings.base_dir or Path.cwd()) / out
    where = spec.trajectory_filter()
    job = _Job(store, spec, fmt, file_type, settings, where, progress, cancel)
    if spec.name is None:
        if reset:
            raise InvalidInputError("--reset needs --name (only named exports remember what they wrote)")
        job.total = _count(store, where, spec)
        return job.run(_one_off_base(out, spec, fmt, file_type), None)
    with contextlib.suppress(OSError):  # writable() below says why when it cannot be made
        out.mkdir(parents=True, exist_ok=True)
    if out.exists() and not out.is_dir():
        raise InvalidInputError(
            f"--out {out} must be a directory for named export {spec.name!r}",
            hint="each run writes NAME-NNNNNN.EXT and its manifest there",
        )
    writable(out / "probe")
    with _locked(out / f".{spec.name}.lock", spec.name):
        history = ledger.runs(store, spec.name)
        _recover(store, history)
        for stale in out.glob(f".{spec.name}-*.tmp"):  # a killed run's temporary files
            with contextlib.suppress(OSError):
                stale.unlink()
        number = max((r.run for r in history), default=0) + 1
        if reset:
            definition = json.dumps(spec.to_dict(), sort_keys=True)
            ledger.save_run(
                store,
                ledger.ExportRun(spec.name, number, ledger.RESET, definition, started_at_ns=time.time_ns()),
            )
            number += 1
            history = []
        job.first_run = not any(r.status == ledger.DONE for r in history)
        job.total = _count(store, where, spec)
        return job.run(out / f"{spec.name}-{number:06d}", number)


# --- the parts -------------------------------------------------------------------------------------
MAX_PAGE_SIZE = 5000  # a page's keys are one query parameter: the engine slows past ~900 KB of them


def _check(settings: ExportSettings) -> None:
    if not 1 <= settings.page_size <= MAX_PAGE_SIZE:
        raise ConfigError(f"[export] page_size must be from 1 to {MAX_PAGE_SIZE}, not {settings.page_size}")
    for name in ("page_turns", "parquet_row_group"):
        if getattr(settings, name) < 1:
            raise ConfigError(f"[export] {name} must be at least 1, not {getattr(settings, name)}")


def _file_type(spec: ExportSpec, fmt: Format) -> str:
    """--file-type, else what --out's extension says (one-off exports), else the format's first."""
    implied = (
        None if spec.name else next((t for t, e in EXTENSIONS.items() if spec.out.lower().endswith(e)), None)
    )
    chosen = spec.file_type or implied or fmt.file_types[0]
    if spec.file_type and implied and implied != spec.file_type:
        raise InvalidInputError(
            f"--out {spec.out} ends in {EXTENSIONS[implied]} but --file-type is {spec.file_type}"
        )
    if chosen not in fmt.file_types:
        raise InvalidInputError(
            f"format {fmt.name!r} writes {', '.join(fmt.file_types)}, not {chosen}",
            hint=f"use --file-type {fmt.file_types[0]}",
        )
    return chosen


def _one_off_base(out: Path, spec: ExportSpec, fmt: Format, file_type: str) -> Path:
    """Data files are BASE[.split].EXT, the manifest BASE.manifest.json."""
    if spec.out.endswith("/") or out.is_dir():
        return out / fmt.name.replace("/", "_")
    ext = EXTENSIONS[file_type]
    return out.with_name(out.name[: -len(ext)]) if out.name.lower().endswith(ext) else out


def _count(store: Store, where: TrajectoryFilter, spec: ExportSpec) -> int:
    """How many trajectories match; a bad filter (e.g. --where) fails here, before any file."""
    try:
        return count_trajectories(store, where)
    except StoreError as exc:
        what = "--where" if spec.where else "the filters"
        raise InvalidInputError(
            f"{what}: ClickHouse refused them: {exc}", hint="check the SQL and the values"
        ) from None


@contextlib.contextmanager
def _locked(path: Path, name: str) -> Iterator[None]:
    """One run of a named export at a time (the collector's schedule and a command line run)."""
    fh: IO[str] = open(path, "a")  # noqa: SIM115 (closed below)
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InvalidInputError(
                f"export {name!r} is running already (lock {path})", hint="wait for it to finish"
            ) from None
        yield
    finally:
        fh.close()


def _recover(store: Store, history: list[ledger.ExportRun]) -> None:
    """Settle runs left 'writing' by a crash: done if their manifest is in place (the crash came
    after it), else failed, with the files they had renamed removed."""
    for run in history:
        if run.status != ledger.WRITING:
            continue
        manifest = Path(run.files[-1]) if run.files else None
        if manifest is not None and manifest.exists():
            run.status, run.manifest = ledger.DONE, manifest.read_text()
        else:
            for name in run.files:
                with contextlib.suppress(FileNotFoundError):
                    Path(name).unlink()
            run.status, run.error = ledger.FAILED, "interrupted before its manifest was written"
        ledger.save_run(store, run)
        log.warning("export %s run %d was interrupted; now %s", run.name, run.run, run.status)


def _split_of(key: str, spec: ExportSpec) -> str:
    if spec.validation_fraction <= 0:
        return "all"
    digest = hashlib.blake2b(f"{spec.split_seed}\n{key}".encode(), digest_size=8).digest()
    return "validation" if int.from_bytes(digest, "big") / 2**64 < spec.validation_fraction else "train"


def _finished(data: DataFile | SchemaFiles) -> list[FileInfo]:
    done = data.finish()
    return done if isinstance(done, list) else [done]


def _iso(ns: int) -> str | None:
    if not ns:
        return None
    return (
        datetime.fromtimestamp(ns // 1_000_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ns % 10**9:09d}Z"
    )


class _Job:
    def __init__(
        self,
        store: Store,
        spec: ExportSpec,
        fmt: Format,
        file_type: str,
        settings: ExportSettings,
        where: TrajectoryFilter,
        progress: Progress | None,
        cancel: threading.Event | None,
    ) -> None:
        self.store, self.spec, self.fmt, self.file_type = store, spec, fmt, file_type
        self.settings, self.where, self.progress, self.cancel = settings, where, progress, cancel
        self.options = spec.options(file_type)
        self.counts = Counts()
        self.total = 0
        self.first_run = True
        self.files: dict[str, DataFile | SchemaFiles] = {}
        self.seen: set[bytes] = set()
        self.items: list[tuple[str, str, int, int]] = []  # ledger rows not yet recorded
        self.run_row: ledger.ExportRun | None = None

    # --- files ---
    def _paths(self, base: Path) -> dict[str, Path]:
        ext = EXTENSIONS[self.file_type]
        splits = ["train", "validation"] if self.spec.validation_fraction > 0 else ["all"]
        return {s: base.with_name(base.name + ("" if s == "all" else f".{s}") + ext) for s in splits}

    def run(self, base: Path, number: int | None) -> dict[str, Any]:
        paths = self._paths(base)
        manifest_path = base.with_name(base.name + ".manifest.json")
        for path in paths.values():
            writable(path)
            if number is not None and path.exists():
                raise InvalidInputError(
                    f"{path} exists already; run {number} of export {self.spec.name!r} would overwrite it",
                    hint="move the export's old files away, or use another --out directory",
                )
        started = time.time_ns()
        if number is not None:
            self.run_row = ledger.ExportRun(
                self.spec.name or "",
                number,
                ledger.WRITING,
                spec=json.dumps(self.spec.to_dict(), sort_keys=True),
                files=[str(p) for p in (*paths.values(), manifest_path)],
                started_at_ns=started,
            )
        try:
            for split, path in paths.items():
                self.files[split] = self._data_file(path)
            self._stream()
            infos = [(split, info) for split, f in self.files.items() for info in _finished(f)]
            if number is not None and self.counts.trajectories == 0:
                # Nothing new: no files. The first run is remembered (its definition is the export's).
                for f in self.files.values():
                    f.discard()
                manifest = self._manifest(number, [], started, None)
                if self.first_run:
                    assert self.run_row is not None
                    self.run_row.status, self.run_row.files = ledger.DONE, []
                    self.run_row.manifest = json.dumps(manifest, sort_keys=True)
                    ledger.save_run(self.store, self.run_row)
                return manifest
            if self.run_row is not None:
                self._record_files([info.path for _, info in infos], manifest_path)
            self._flush_items(final=True)
            for f in self.files.values():
                f.commit()
            manifest = self._manifest(number, infos, started, manifest_path)
            write_atomically(manifest_path, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
        except BaseException as exc:
            for f in self.files.values():
                f.discard()
            if self.run_row is not None:  # a named run's files did not exist before it
                for name in self.run_row.files[:-1]:  # renamed already when the manifest failed
                    with contextlib.suppress(OSError):
                        Path(name).unlink()
                if self.run_row.updated_at_ns:  # it is in the store: say it failed
                    self.run_row.status, self.run_row.error = (
                        ledger.FAILED,
                        f"{type(exc).__name__}: {exc}"[:2000],
                    )
                    with contextlib.suppress(Exception):  # the store may be what failed
                        ledger.save_run(self.store, self.run_row)
            raise
        if self.run_row is not None:
            self.run_row.status = ledger.DONE
            self.run_row.manifest = json.dumps(manifest, sort_keys=True)
            self.run_row.trajectories, self.run_row.records = self.counts.trajectories, self.counts.records
            ledger.save_run(self.store, self.run_row)
        return manifest

    def _data_file(self, path: Path) -> DataFile | SchemaFiles:
        rows = self.settings.parquet_row_group
        if self.file_type == "parquet" and self.fmt.parquet_schema_of is not None:
            return SchemaFiles(
                path, self.fmt.parquet_schema_of, schema=self.fmt.parquet_schema, row_group=rows
            )
        return DataFile(path, self.file_type, schema=self.fmt.parquet_schema, row_group=rows)

    def _record_files(self, paths: list[Path], manifest_path: Path) -> None:
        """A named run's files once their names are known (one per schema for some formats): the
        next run removes them if this one dies before its manifest."""
        assert self.run_row is not None
        for path in paths:
            if path.exists():
                raise InvalidInputError(
                    f"{path} exists already; run {self.run_row.run} of export {self.spec.name!r} would "
                    "overwrite it",
                    hint="move the export's old files away, or use another --out directory",
                )
        files = [str(p) for p in (*paths, manifest_path)]
        if files != self.run_row.files:
            self.run_row.files = files
            if self.run_row.updated_at_ns:  # in the store already with the names it began with
                ledger.save_run(self.store, self.run_row)

    # --- reading and writing ---
    def _trajectories(self) -> Iterator[tuple[str, Trajectory]]:
        read = 0
        for page in read_trajectory_pages(
            self.store,
            self.where,
            group_key=self.spec.group_by if self.fmt.grouped else "",
            page_size=self.settings.page_size,
            page_turns=self.settings.page_turns,
        ):
            for item in page:
                if self.cancel is not None and self.cancel.is_set():
                    raise ExportCancelled("the export was stopped; nothing was written")
                if self.spec.limit is not None and read >= self.spec.limit:
                    return
                read += 1
                yield item
            if self.progress is not None:
                self.progress(read, min(self.total, self.spec.limit or self.total))
            self._flush_items()

    def _stream(self) -> None:
        if not self.fmt.grouped:
            for _, trajectory in self._trajectories():
                self._emit([trajectory], f"{trajectory.tenant}\n{trajectory.id}")
            return
        low, high = self.spec.group_min_size, self.spec.group_max_size
        buffer: list[Trajectory] = []
        current: tuple[str, str] | None = None
        for group, trajectory in self._trajectories():
            key = (trajectory.tenant, group)
            if key != current:
                self._group(buffer, current)
                buffer, current = [], key
            buffer.append(trajectory)
            if len(buffer) >= high + low:  # a big group: emit full groups, keep enough for the rest
                self._emit(buffer[:high], "\n".join(key))
                buffer = buffer[high:]
        self._group(buffer, current)

    def _group(self, buffer: list[Trajectory], key: tuple[str, str] | None) -> None:
        if not buffer or key is None:
            return
        if len(buffer) < self.spec.group_min_size:
            self.counts.small_groups += len(buffer)
            return
        split_key = "\n".join(key)
        if len(buffer) > self.spec.group_max_size:  # < max + min here: two halves, both >= min
            half = len(buffer) // 2
            self._emit(buffer[:half], split_key)
            self._emit(buffer[half:], split_key)
        else:
            self._emit(buffer, split_key)

    def _emit(self, items: Sequence[Trajectory], split_key: str) -> None:
        prepared = []
        for trajectory in items:
            shaped, truncated = prepare(trajectory, self.options)
            self.counts.truncated += truncated
            prepared.append(shaped)
        split = _split_of(split_key, self.spec)
        written = made = 0
        reasons = shaping.skip_reasons.set(self.counts.skip_reasons)
        try:
            for record in self.fmt.records(prepared, self.options):
                made += 1
                encoded = encode(record) if self.file_type != "parquet" or self.spec.dedup else None
                if self.spec.dedup:
                    assert encoded is not None
                    digest = hashlib.blake2b(encoded, digest_size=12).digest()
                    if digest in self.seen:
                        self.counts.duplicates += 1
                        continue
                    self.seen.add(digest)
                self.files[split].write(record, encoded)
                written += 1
        except TrajotelError:
            raise
        except Exception as exc:
            raise TrajotelError(
                f"format {self.fmt.name!r} failed on trajectory {items[0].id!r}: {type(exc).__name__}: {exc}",
                hint="a bug in the format module: report it with `trajotel trajectories show ID --json`",
            ) from exc
        finally:
            shaping.skip_reasons.reset(reasons)
        counts = self.counts
        counts.records += written
        counts.trajectories += len(items)
        counts.groups += 1 if self.fmt.grouped else 0
        if made == 0:
            counts.skipped += len(items)
        for t in items:
            counts.first_start_ns = min(
                counts.first_start_ns or t.start_time_unix_nano, t.start_time_unix_nano
            )
            counts.last_start_ns = max(counts.last_start_ns, t.start_time_unix_nano)
            counts.newest_assembled_ns = max(counts.newest_assembled_ns, t.assembled_at_unix_nano)
            if self.run_row is not None:
                self.items.append((t.tenant, t.id, t.version, t.assembled_at_unix_nano))

    def _flush_items(self, final: bool = False) -> None:
        """Record the versions written so far (they count once the run is done)."""
        if self.run_row is None or not self.items or (len(self.items) < 1000 and not final):
            return
        if self.run_row.updated_at_ns == 0:  # the run's first trace in the store
            ledger.save_run(self.store, self.run_row)
        ledger.record_items(self.store, self.run_row.name, self.run_row.run, self.items)
        self.items = []

    # --- the manifest ---
    def _manifest(
        self,
        number: int | None,
        infos: list[tuple[str, FileInfo]],
        started_ns: int,
        manifest_path: Path | None,
    ) -> dict[str, Any]:
        c, spec = self.counts, self.spec
        where = self.where
        url = self.store.url
        watermark = None
        if spec.name is not None:
            versions, newest = ledger.ledger_summary(self.store, spec.name)
            pending = self.counts.trajectories if self.run_row is not None else 0
            watermark = {
                "exported_versions": versions + pending,
                "newest_assembled_at": _iso(max(newest, c.newest_assembled_ns)),
            }
        return {
            "manifest_version": MANIFEST_VERSION,
            "trajotel_version": __version__,
            "format": self.fmt.name,
            "schema_version": self.fmt.schema_version,
            "file_type": self.file_type,
            "level": spec.level,
            "name": spec.name,
            "run": number,
            "started_at": _iso(started_ns),
            "finished_at": _iso(time.time_ns()),
            "export": spec.to_dict(),
            "files": [
                {
                    "path": info.path.name if manifest_path is not None else str(info.path),
                    "split": split,
                    "records": info.records,
                    "bytes": info.bytes,
                    "sha256": info.sha256,
                }
                for split, info in infos
            ],
            "counts": {
                "trajectories": c.trajectories,
                "records": c.records,
                "skipped": c.skipped,
                # The most common reasons records were left out, with how many.
                "skip_reasons": dict(c.skip_reasons.most_common(MAX_SKIP_REASONS)),
                "duplicates": c.duplicates,
                "truncated": c.truncated,
                "groups": c.groups,
                "left_out_small_groups": c.small_groups,
                "matching": self.total,
            },
            "time_range": {
                "since": _iso(int(where.since.timestamp() * 1e9)) if where.since else None,
                "until": _iso(int(where.until.timestamp() * 1e9)) if where.until else None,
                "first_start": _iso(c.first_start_ns),
                "last_start": _iso(c.last_start_ns),
            },
            "watermark": watermark,
            "store": {
                "url": f"chdb://{url.path}" if url.embedded else f"{url.scheme}://{url.host}:{url.port}",
                "database": self.store.database,
            },
        }
