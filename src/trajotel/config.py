"""One typed configuration: defaults <- TOML file <- environment <- command line.

Every field is documented in ``collector/trajotel.toml`` (the annotated config). Environment
variables are ``TRAJOTEL_<SECTION>_<FIELD>`` in upper case, e.g. ``TRAJOTEL_RECEIVE_HTTP_PORT``.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trajotel.errors import ConfigError
from trajotel.semconv import DEFAULT_GRPC_PORT, DEFAULT_HTTP_PORT

MIB = 1024 * 1024


def default_data_dir() -> Path:
    """``$TRAJOTEL_DATA_DIR``, else ``$XDG_DATA_HOME/trajotel``, else ``~/.local/share/trajotel``."""
    if env := os.environ.get("TRAJOTEL_DATA_DIR"):
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "trajotel"


@dataclass
class StoreConfig:
    # chdb://PATH (embedded, default: <data_dir>/clickhouse) or http(s)://user:pass@host:8123
    clickhouse: str = ""
    database: str = "trajotel"


@dataclass
class ReceiveConfig:
    host: str = "127.0.0.1"
    grpc_port: int = DEFAULT_GRPC_PORT
    http_port: int = DEFAULT_HTTP_PORT
    max_request_bytes: int = 32 * MIB
    grpc_workers: int = 8
    tenant: str = "default"


@dataclass
class SpoolConfig:
    max_bytes: int = 1024 * MIB  # unwritten spool above this -> exporters are told to back off
    segment_bytes: int = 64 * MIB
    fsync: bool = True


@dataclass
class WriterConfig:
    batch_rows: int = 20_000
    flush_interval_s: float = 0.25
    workers: int = 0  # processes preparing spooled spans; 0 = one per CPU core


@dataclass
class AssembleConfig:
    # A trace with its root span but no agent root (e.g. one model call of a flat loop, which the
    # next call may continue) is complete once nothing arrived for this long.
    idle_timeout_s: float = 5.0
    # An agent run (its invoke_agent root span arrived: the run is over) is complete once nothing
    # arrived for this long. Spans arriving later still make a newer version.
    agent_root_grace_s: float = 0.5
    # A trace whose root span never arrives (its parent is missing) is complete this long after
    # its last span: the spans it has still make a trajectory.
    orphan_timeout_s: float = 60.0
    poll_interval_s: float = 0.2
    # A running trajectory is rebuilt at most this often while new spans arrive (each rebuild
    # re-reads the whole trace: the assembler's main cost under load).
    refresh_s: float = 1.0
    # Traces assembled per pass at most; a trace that goes quiet waits for the pass in progress.
    max_batch: int = 500


@dataclass
class Config:
    data_dir: Path = field(default_factory=default_data_dir)
    store: StoreConfig = field(default_factory=StoreConfig)
    receive: ReceiveConfig = field(default_factory=ReceiveConfig)
    spool: SpoolConfig = field(default_factory=SpoolConfig)
    writer: WriterConfig = field(default_factory=WriterConfig)
    assemble: AssembleConfig = field(default_factory=AssembleConfig)

    @property
    def clickhouse_url(self) -> str:
        return self.store.clickhouse or f"chdb://{self.data_dir / 'clickhouse'}"

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"


SECTIONS = ("store", "receive", "spool", "writer", "assemble")


def _coerce(value: Any, target: type, where: str) -> Any:
    if target is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    try:
        return target(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected {target.__name__}, got {value!r}") from None


def _apply(section_obj: Any, values: Mapping[str, Any], where: str, *, name_key: bool = True) -> None:
    """Set fields from ``values``; errors name ``where`` (plus the key unless ``name_key`` is off)."""
    types = {f.name: f.type for f in dataclasses.fields(section_obj)}
    for key, value in values.items():
        label = f"{where}.{key}" if name_key else where
        if key not in types:
            known = ", ".join(sorted(types))
            raise ConfigError(f"{label}: unknown setting", hint=f"known settings: {known}")
        target = {"int": int, "float": float, "bool": bool, "str": str}[str(types[key])]
        setattr(section_obj, key, _coerce(value, target, label))


def load_config(
    path: str | Path | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    environ: Mapping[str, str] | None = None,
    data_dir: str | Path | None = None,
) -> Config:
    """Build the configuration. ``overrides`` are command-line values: {"receive": {"http_port": 1}}."""
    environ = os.environ if environ is None else environ
    cfg = Config()
    if path is not None:
        path = Path(path)
        try:
            raw = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: {exc}") from None
        if "data_dir" in raw:
            cfg.data_dir = Path(raw.pop("data_dir")).expanduser()
        for section, values in raw.items():
            if section not in SECTIONS or not isinstance(values, dict):
                raise ConfigError(
                    f"{path}: unknown section [{section}]", hint=f"sections: {', '.join(SECTIONS)}"
                )
            _apply(getattr(cfg, section), values, f"{path}:[{section}]")
    if "TRAJOTEL_DATA_DIR" in environ:
        cfg.data_dir = Path(environ["TRAJOTEL_DATA_DIR"])
    for section in SECTIONS:
        obj = getattr(cfg, section)
        for f in dataclasses.fields(obj):
            name = f"TRAJOTEL_{section}_{f.name}".upper()
            if name in environ:
                _apply(obj, {f.name: environ[name]}, name, name_key=False)
    for section, values in (overrides or {}).items():
        _apply(getattr(cfg, section), {k: v for k, v in values.items() if v is not None}, "--option")
    if data_dir is not None:
        cfg.data_dir = Path(data_dir)
    return cfg
