"""The collector process: OTLP receivers -> durable spool -> store writer -> assembler.

It owns its data directory (one collector per directory, enforced with a lock file) and
advertises itself in ``<data_dir>/collector.json`` so that CLI commands given the same data
directory go through it instead of opening the embedded store (which allows one process).
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trajotel.assemble.worker import AssemblyWorker
from trajotel.collector import api, api_analytics, api_enrich, api_export, api_search
from trajotel.collector.ingest import SpoolSink, StoreWriter
from trajotel.config import Config
from trajotel.enrich.registry import StageCache, enabled_names
from trajotel.enrich.runner import Runner, from_config
from trajotel.enrich.worker import EnrichmentWorker
from trajotel.errors import StoreLockedError
from trajotel.export.schedule import ExportScheduler
from trajotel.receive import GrpcReceiver, HttpReceiver
from trajotel.spool import Spool
from trajotel.store import Store
from trajotel.store.feedback import RewardRule, write_reward_rule

log = logging.getLogger(__name__)

ADVERT = "collector.json"
# Unstored spool bytes above which the assembler leaves running trajectories for later.
INGEST_BACKLOG_BYTES = 8 * 1024 * 1024


def read_advert(data_dir: Path) -> dict[str, Any] | None:
    """The running collector's address for this data directory, if one is alive."""
    try:
        advert = json.loads((Path(data_dir) / ADVERT).read_text())
        os.kill(int(advert["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return advert


class Collector:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.store: Store | None = None
        self.spool: Spool | None = None
        self.writer: StoreWriter | None = None
        self.assembler: AssemblyWorker | None = None
        self.enricher: EnrichmentWorker | None = None
        self.exporter: ExportScheduler | None = None  # [[export.schedules]]
        self.grpc: GrpcReceiver | None = None
        self.http: HttpReceiver | None = None
        self._lock_fh: Any = None
        self._stopped = threading.Event()

    # --- lifecycle -----------------------------------------------------------------------
    def _take_data_dir(self) -> None:
        data_dir = self.config.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self._lock_fh = open(data_dir / "collector.lock", "a+")  # noqa: SIM115 (held while running)
        try:
            fcntl.flock(self._lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            advert = read_advert(data_dir) or {}
            raise StoreLockedError(
                f"data directory {data_dir} is used by another collector (pid {advert.get('pid', '?')})",
                hint="stop it, or give this one its own --data DIR",
            ) from None

    def start(self) -> None:
        cfg = self.config
        self._take_data_dir()
        self.store = Store.open(cfg.clickhouse_url, cfg.store.database)
        self.spool = spool = Spool(
            cfg.spool_dir,
            max_bytes=cfg.spool.max_bytes,
            segment_bytes=cfg.spool.segment_bytes,
            fsync=cfg.spool.fsync,
        )
        self.assembler = AssemblyWorker(
            self.store,
            idle_timeout_s=cfg.assemble.idle_timeout_s,
            agent_root_grace_s=cfg.assemble.agent_root_grace_s,
            orphan_timeout_s=cfg.assemble.orphan_timeout_s,
            poll_interval_s=cfg.assemble.poll_interval_s,
            refresh_s=cfg.assemble.refresh_s,
            max_batch=cfg.assemble.max_batch,
            span_cache_bytes=cfg.assemble.span_cache_bytes,
            content_cache_bytes=cfg.assemble.content_cache_bytes,
            completed_log_size=cfg.assemble.completed_log_size,
            # Only while an enrichment worker takes them: nobody else would.
            handoff_size=cfg.enrich.handoff_size if enabled_names(cfg.enrich) else 0,
            ingest_busy=lambda: spool.unconsumed_bytes() > INGEST_BACKLOG_BYTES,
        )
        self.writer = StoreWriter(
            self.spool,
            self.store,
            tenant=cfg.receive.tenant,
            batch_rows=cfg.writer.batch_rows,
            flush_interval_s=cfg.writer.flush_interval_s,
            workers=cfg.writer.workers or os.cpu_count() or 1,
            on_stored=self.assembler.notify,
        )
        # The views apply the rule stored in the store: this configuration's, from now on.
        write_reward_rule(self.store, RewardRule.from_config(cfg.feedback))
        recovered = self.assembler.recover()
        if recovered:
            log.info("re-queued %d trace(s) for assembly from the previous run", recovered)
        # Enrichment: stages load now, so a bad [enrich] config stops the start with its reason.
        stages = StageCache(cfg.enrich, self.store)
        store = self.store

        def runner_for(names: Sequence[str] | None) -> Runner:
            return from_config(cfg.enrich, store, names, stages)

        if enabled_names(cfg.enrich):
            # The background worker gives way to assembly; manual runs (runner_for) do not.
            self.enricher = EnrichmentWorker(
                from_config(
                    cfg.enrich,
                    store,
                    None,
                    stages,
                    wait_turn=self.assembler.wait_idle,
                    handoff=self.assembler.take_complete,
                ),
                poll_interval_s=cfg.enrich.poll_interval_s,
                max_per_pass=cfg.enrich.max_per_pass,
                busy=self.assembler.behind,
            )
        # Scheduled exports: checked now, so a bad schedule stops the start with its reason.
        self.exporter = ExportScheduler.from_config(cfg, self.store)
        self.writer.start()
        self.assembler.start()
        if self.enricher is not None:
            self.enricher.start()
        if self.exporter is not None:
            self.exporter.start()
        sink = SpoolSink(self.spool)
        self.grpc = GrpcReceiver(sink, cfg.receive)
        routes = (
            api.routes(self.store, self.status, cfg)
            | api_enrich.routes(self.store, runner_for)
            | api_search.routes(self.store, cfg)
            | api_analytics.routes(self.store, cfg)
            | api_export.routes(self.store, cfg, self._stopped)
        )
        self.http = HttpReceiver(sink, cfg.receive, routes=routes)
        grpc_port = self.grpc.start()
        http_port = self.http.start()
        advert = {
            "pid": os.getpid(),
            "host": cfg.receive.host,
            "grpc_port": grpc_port,
            "http_port": http_port,
            "store": cfg.clickhouse_url,
            "database": cfg.store.database,
            "started_at": time.time(),
        }
        tmp = cfg.data_dir / (ADVERT + ".tmp")
        tmp.write_text(json.dumps(advert))
        os.replace(tmp, cfg.data_dir / ADVERT)
        log.info(
            "collector ready: OTLP gRPC %s:%d, OTLP HTTP %s:%d, store %s",
            cfg.receive.host,
            grpc_port,
            cfg.receive.host,
            http_port,
            cfg.clickhouse_url,
        )

    def status(self, completed_since: float | None = None) -> dict[str, Any]:
        """The counters; with ``completed_since`` (wall time, seconds) also the complete
        trajectory versions written since then, with when each insert returned."""
        counters = {
            "stored_spans": self.writer.stored_spans if self.writer else 0,
            "spool_unwritten_bytes": self.spool.unconsumed_bytes() if self.spool else 0,
            "traces_pending_assembly": self.assembler.pending_count() if self.assembler else 0,
            "trajectory_versions_written": self.assembler.assembled if self.assembler else 0,
            "assembly": self.assembler.stats() if self.assembler else {},
            "enrichments_written": self.enricher.enriched if self.enricher else 0,
            "enrichments_failed": self.enricher.failed if self.enricher else 0,
            # Time the enrichment worker waited for the assembler (giving way: enrich.yield_max_s).
            "enrichment_yielded_seconds": round(self.enricher.runner.yielded_s, 3) if self.enricher else 0,
            "enrichment_handed_off": self.enricher.runner.handed_off if self.enricher else 0,
            "scheduled_exports_run": self.exporter.runs if self.exporter else 0,
            "scheduled_exports_failed": self.exporter.failures if self.exporter else 0,
        }
        if completed_since is not None:
            counters["completed_versions"] = (
                self.assembler.completed_since(completed_since) if self.assembler else []
            )
        return counters

    def stop(self, drain_timeout_s: float = 30.0) -> None:
        """Stop accepting, store what was accepted, assemble what is pending, release everything."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        for receiver in (self.http, self.grpc):
            if receiver is not None:
                try:
                    receiver.stop()
                except Exception:
                    log.exception("stopping a receiver failed")
        if self.writer is not None:
            # Store what was acknowledged (a restart would replay it anyway, but a clean stop
            # should leave nothing behind).
            deadline = time.monotonic() + drain_timeout_s
            while self.spool and self.spool.unconsumed_bytes() and time.monotonic() < deadline:
                time.sleep(0.05)
            self.writer.stop()
        if self.assembler is not None and self.assembler.is_alive():
            self.assembler.stop()  # it makes one last pass itself
            self.assembler.join(drain_timeout_s)
        if self.enricher is not None and self.enricher.is_alive():
            self.enricher.stop()  # a judge call in flight finishes (or times out) first
            self.enricher.join(drain_timeout_s)
        if self.exporter is not None and self.exporter.is_alive():
            self.exporter.stop()  # a run in progress stops between trajectories, writing nothing
            self.exporter.join(drain_timeout_s)
        if self.spool is not None:
            self.spool.close()
        if self.store is not None:
            self.store.close()
        with contextlib.suppress(FileNotFoundError):
            (self.config.data_dir / ADVERT).unlink()
        if self._lock_fh is not None:
            self._lock_fh.close()

    def serve_forever(self) -> None:
        """Run until SIGINT/SIGTERM, then stop cleanly."""
        done = threading.Event()

        def _signal(signum: int, _frame: Any) -> None:
            log.info("received %s, stopping", signal.Signals(signum).name)
            done.set()

        signal.signal(signal.SIGINT, _signal)
        signal.signal(signal.SIGTERM, _signal)
        self.start()
        settle_garbage_collector()
        try:
            while not done.wait(1.0):
                pass
        finally:
            self.stop()


def settle_garbage_collector() -> None:
    """For a long-running collector process, after start-up: the objects alive now (modules,
    the engine's bindings, configuration) are moved out of the collector's sight (``gc.freeze``),
    and young collections run every 10,000 allocations instead of 700. The assembler allocates
    millions of short-lived objects: with Python's defaults, full collections walking every
    long-lived object took ~20 % of its pass time; replaying 3,000 agent runs through the
    assembly passes, garbage collection went from 1.4 s to 0.4-0.5 s (docs/benchmarks.md)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
