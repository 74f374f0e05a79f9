"""The collector's enrichment loop: every ``poll_interval_s``, each enabled stage runs on up to
``max_per_pass`` finished trajectories that need it (new ones, newer versions, a new stage
version, failures due for a retry). Bounded work per pass keeps one slow judge from holding the
store. When a stage had more waiting, the next pass starts at once, unless nothing in the pass
succeeded or the assembler is behind; else what is left waits for the next poll. The collector
starts it only when a stage is enabled.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from trajotel.enrich.runner import Runner

log = logging.getLogger(__name__)


class EnrichmentWorker(threading.Thread):
    def __init__(
        self,
        runner: Runner,
        *,
        poll_interval_s: float,
        max_per_pass: int,
        busy: Callable[[], bool] | None = None,
    ) -> None:
        """``busy``: whether what enrichment gives way to (the assembler) is behind; while it
        is, a backlog waits for the next poll rather than draining at once."""
        super().__init__(name="trajotel-enricher", daemon=True)
        self.runner = runner
        self.busy = busy or (lambda: False)
        self.poll_interval_s = poll_interval_s
        self.max_per_pass = max_per_pass
        self.enriched = 0
        self.failed = 0
        self._stop_event = threading.Event()
        self._wake = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self._wake.wait(self.poll_interval_s)
            self._wake.clear()
            if self._stop_event.is_set():
                break
            try:
                reports = self.runner.run_pending(self.max_per_pass)
            except Exception:  # the store or a stage's setup failed: log, try again next pass
                log.exception("enrichment pass failed")
                continue
            for report in reports:
                self.enriched += report.enriched
                self.failed += report.failed
            # A stage had more waiting than one pass takes, and the pass got somewhere (not a
            # judge that is down): unless the assembler is behind, the next pass starts now, so
            # a backlog drains as fast as the store and the stages allow.
            more = any(r.enriched + r.failed >= self.max_per_pass for r in reports)
            if more and any(r.enriched for r in reports) and not self.busy():
                self._wake.set()

    def wake(self) -> None:
        """Run a pass now (e.g. right after trajectories completed)."""
        self._wake.set()

    def stop(self) -> None:
        self._stop_event.set()
        self._wake.set()
