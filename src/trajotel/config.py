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
    # A batch waits at most this long for more records: every stored span waits it (latency to
    # a queryable trajectory), a shorter wait means smaller, more frequent inserts under load.
    flush_interval_s: float = 0.1
    workers: int = 0  # processes preparing spooled spans; 0 = one per CPU core


@dataclass
class AssembleConfig:
    # A trace with its root span but no agent root (e.g. one model call of a flat loop, which the
    # next call may continue) is complete once nothing arrived for this long.
    idle_timeout_s: float = 5.0
    # An agent run (its invoke_agent root span arrived: the run is over) is complete once nothing
    # arrived for this long. Spans arriving later still make a newer version.
    agent_root_grace_s: float = 0.2
    # A trace whose root span never arrives (its parent is missing) is complete this long after
    # its last span: the spans it has still make a trajectory.
    orphan_timeout_s: float = 60.0
    poll_interval_s: float = 0.2
    # A running trajectory is rebuilt at most this often while new spans arrive (each rebuild
    # assembles the whole trace: the assembler's main cost under load); five times less often
    # while the assembler is behind (assemble.worker.STALE_REFRESHES, BUSY_SHARE).
    refresh_s: float = 1.0
    # Traces assembled per pass at most; a trace that goes quiet waits for the pass in progress.
    max_batch: int = 500
    # Memory for the span rows the writer just stored, so a pass reads back from the store only
    # traces it has not seen whole (approximate bytes; 0 = off: every pass reads the store).
    span_cache_bytes: int = 64 * MIB
    # Memory for the message bodies the writer just stored, by hash (approximate bytes; 0 = off).
    content_cache_bytes: int = 64 * MIB
    # How many of the latest complete versions the collector remembers the insert time of, for
    # GET /v1/status?completed_since= (benchmarks: when a trajectory became queryable); 0 = off.
    completed_log_size: int = 10_000


@dataclass
class JudgeConfig:
    """``[enrich.judge]``: the LLM judge (any OpenAI-compatible endpoint); docs/enrichment.md."""

    model: str = ""  # required by the judge and group stages (they refuse to start without it)
    base_url: str = ""  # empty: $OPENAI_BASE_URL, else the OpenAI API
    api_key_env: str = "OPENAI_API_KEY"  # the environment variable holding the key
    timeout_s: float = 60.0
    max_retries: int = 3  # retries of one reply: 429/5xx/timeouts (with backoff) and invalid replies
    backoff_s: float = 1.0  # first retry delay; doubles each retry
    max_input_chars: int = 60_000  # longer trajectories are cut with a visible marker
    temperature: float = 0.0
    structured_output: bool = True  # response_format json_schema (off: json_object + validation)
    input_price_per_mtok: float = 0.0  # USD per million input tokens of `model` (cost = 0 if unset)
    output_price_per_mtok: float = 0.0


@dataclass
class GroupConfig:
    """``[enrich.group]``: group-relative judging of trajectories of the same task."""

    key: str = "task"  # task | task_and_agent
    min_size: int = 2  # groups smaller than this wait for more members
    max_size: int = 16  # the newest max_size members are judged together
    model: str = ""  # empty: [enrich.judge] model (same endpoint either way)


@dataclass
class EmbeddingsConfig:
    """``[enrich.embeddings]``: the model of the ``embeddings`` stage and of vector search; docs/search.md."""

    provider: str = ""  # "" = no vectors (keyword search only) | "openai" | "fastembed"
    model: str = ""  # "" = text-embedding-3-small (openai) / BAAI/bge-small-en-v1.5 (fastembed)
    base_url: str = ""  # openai: "" = $OPENAI_BASE_URL, else the OpenAI API
    api_key_env: str = "OPENAI_API_KEY"  # the environment variable holding the key
    dimensions: int = 0  # openai: ask for vectors this long (0 = the model's own size)
    batch_size: int = 64  # texts per embeddings request
    timeout_s: float = 30.0
    max_retries: int = 3  # the openai SDK's retries (429, 5xx, timeouts; with backoff)
    max_text_chars: int = 8000  # text embedded per trajectory; longer is cut with a marker
    cache_dir: str = ""  # fastembed: directory of the model files ("" = fastembed's default)
    offline: bool = True  # fastembed: only model files already in cache_dir, never a download


@dataclass
class EnrichConfig:
    # Stages the collector runs on complete trajectories, in this order, comma-separated
    # (names of `trajotel.enrich_stages` entry points); "" turns the enrichment worker off.
    stages: str = "heuristic,keywords"
    poll_interval_s: float = 2.0
    max_per_pass: int = 100  # trajectories per stage per pass
    concurrency: int = 4  # stage batches (LLM calls) in flight at once
    max_attempts: int = 3  # failures of one (trajectory version, stage version) before giving up
    retry_after_s: float = 60.0  # a failure is retried no sooner than this
    # The collector's worker gives way to assembly: each step (finding work, reading a batch,
    # writing its results) waits until the assembler is idle, up to this long (seconds), then
    # runs anyway; 0 = never waits.
    yield_max_s: float = 1.0
    # Complete trajectories the collector's assembler keeps for its enrichment worker, which
    # then need not read them back from the store; 0 = always read back.
    handoff_size: int = 1000
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    group: GroupConfig = field(default_factory=GroupConfig)
    embeddings: EmbeddingsConfig = field(default_factory=EmbeddingsConfig)


@dataclass
class SearchConfig:
    """``[search]``: limits of ``POST /v1/trajectories/search``; docs/search.md."""

    max_k: int = 100  # largest k a search may ask for
    candidates: int = 100  # trajectories each leg (keyword, vector) ranks before fusion
    rrf_k: int = 60  # reciprocal rank fusion constant: relevance = sum(1 / (rrf_k + rank))
    # Vectors the vector leg compares exactly: the nearest by sign-bit code (Hamming distance);
    # at least the candidates it ranks; 0 = every vector (exact search, slower)
    vector_preselect: int = 500
    max_query_chars: int = 2000
    index_text_chars: int = 32000  # text the keywords stage indexes per trajectory


@dataclass
class FeedbackConfig:
    """``[feedback]``: the final-reward rule and feedback limits; docs/api.md."""

    # Feedback sources that set a trajectory's (and a turn's) reward, strongest first,
    # comma-separated; "run" = the reward the run recorded itself (trajotel.reward).
    reward_sources: str = "human,api,run,rule,llm_judge,heuristic"
    reward_combine: str = "latest"  # latest | mean: among the strongest source's values
    review_sources: str = "human"  # feedback from these marks a trajectory human-reviewed
    max_text_chars: int = 10_000  # longest label, comment or author accepted (characters)


@dataclass
class ApiConfig:
    """``[api]``: limits of the REST API on the HTTP port; docs/api.md."""

    max_page_size: int = 1000  # most rows one list or analytics request may ask for


@dataclass
class ExportScheduleConfig:
    """One ``[[export.schedules]]`` table: a named export the collector runs on a schedule."""

    name: str = ""  # the named export (incremental: each run writes only what is new)
    options: str = ""  # `trajotel export` options: "--format F --out DIR [filters] [shaping]"
    every_s: float = 0.0  # run every this many seconds; or
    cron: str = ""  # on this schedule: "minute hour day-of-month month day-of-week" (local time)
    enabled: bool = True


@dataclass
class ExportConfig:
    """``[export]``: dataset exports (docs/export.md)."""

    page_size: int = 1000  # trajectories read from the store at a time
    page_turns: int = 20_000  # turns read at a time (a page stops early at this many)
    parquet_row_group: int = 1000  # records per Parquet row group (held in memory until written)
    dir: str = ""  # relative --out paths of schedules resolve here ("" = <data_dir>/exports)
    schedules: list[ExportScheduleConfig] = field(
        default_factory=list, metadata={"item": ExportScheduleConfig}
    )


@dataclass
class Config:
    data_dir: Path = field(default_factory=default_data_dir)
    store: StoreConfig = field(default_factory=StoreConfig)
    receive: ReceiveConfig = field(default_factory=ReceiveConfig)
    spool: SpoolConfig = field(default_factory=SpoolConfig)
    writer: WriterConfig = field(default_factory=WriterConfig)
    assemble: AssembleConfig = field(default_factory=AssembleConfig)
    enrich: EnrichConfig = field(default_factory=EnrichConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    feedback: FeedbackConfig = field(default_factory=FeedbackConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    export: ExportConfig = field(default_factory=ExportConfig)

    @property
    def clickhouse_url(self) -> str:
        return self.store.clickhouse or f"chdb://{self.data_dir / 'clickhouse'}"

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"


SECTIONS = (
    "store",
    "receive",
    "spool",
    "writer",
    "assemble",
    "enrich",
    "search",
    "feedback",
    "api",
    "export",
)


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
        item = next((f.metadata.get("item") for f in dataclasses.fields(section_obj) if f.name == key), None)
        if item is not None:  # an array of tables: [[section.key]]
            if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
                raise ConfigError(f"{label}: expected an array of tables ([[...{key}]]), got {value!r}")
            entries = []
            for i, table in enumerate(value):
                entries.append(entry := item())
                _apply(entry, table, f"{label}[{i}]")
            setattr(section_obj, key, entries)
            continue
        if dataclasses.is_dataclass(nested := getattr(section_obj, key)):  # a [section.sub] table
            if not isinstance(value, Mapping):
                raise ConfigError(f"{label}: expected a table ([{key}] section), got {value!r}")
            _apply(nested, value, label)
            continue
        target = {"int": int, "float": float, "bool": bool, "str": str}[str(types[key])]
        setattr(section_obj, key, _coerce(value, target, label))


def _apply_environ(obj: Any, prefix: str, environ: Mapping[str, str]) -> None:
    """``PREFIX_FIELD`` variables; a nested section's are ``PREFIX_SUB_FIELD``."""
    for f in dataclasses.fields(obj):
        name = f"{prefix}_{f.name}".upper()
        if dataclasses.is_dataclass(nested := getattr(obj, f.name)):
            _apply_environ(nested, name, environ)
        elif name in environ:
            _apply(obj, {f.name: environ[name]}, name, name_key=False)


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
        _apply_environ(getattr(cfg, section), f"TRAJOTEL_{section}".upper(), environ)
    for section, values in (overrides or {}).items():
        _apply(getattr(cfg, section), {k: v for k, v in values.items() if v is not None}, "--option")
    if data_dir is not None:
        cfg.data_dir = Path(data_dir)
    return cfg
