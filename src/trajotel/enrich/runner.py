"""Running stages: find what needs them, run batches with a concurrency limit, store results.

One failure never blocks the others: an exception out of a batch becomes an error row for each
of its trajectories, a trajectory a stage returned no result for gets one too, and both are
retried on a later pass (``enrichments.pending``). Results are written as each batch finishes.

In the collector, enrichment gives way to assembly (``wait_turn``): each step (finding work,
reading a batch, writing its results) first waits until the assembler is idle, up to
``yield_max_s`` per step, so a run's latency to queryable pays less for enrichment's CPU and
store time; past that bound the step runs anyway, so enrichment is delayed, never starved.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from trajotel.assemble.model import Trajectory
from trajotel.config import EnrichConfig
from trajotel.enrich import registry
from trajotel.enrich.stage import Stage, StageResult, after, batch_size, group_by, min_group_size
from trajotel.store import Store, enrichments
from trajotel.store.enrichments import Key, Needs

log = logging.getLogger(__name__)

MANUAL_ATTEMPTS = 2**31 - 1


@dataclass
class StageReport:
    """What one stage did in one run."""

    stage: str
    version: str
    enriched: int = 0
    failed: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    errors: list[str] = field(default_factory=list)  # the first few, for people

    def add(self, result: StageResult) -> None:
        self.input_tokens += result.input_tokens
        self.output_tokens += result.output_tokens
        self.cost_usd += result.cost_usd
        if result.error:
            self.failed += 1
            if len(self.errors) < 5:
                self.errors.append(f"{result.trajectory_id}: {result.error}")
        else:
            self.enriched += 1

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Runner:
    store: Store
    stages: Sequence[Stage]
    concurrency: int = 4
    max_attempts: int = 3
    retry_after_s: float = 60.0
    # Blocks until it is enrichment's turn (the collector: the assembler is idle) or the given
    # seconds (yield_max_s) passed; None: never waits (manual runs: someone is waiting).
    wait_turn: Callable[[float], object] | None = None
    yield_max_s: float = 1.0
    yielded_s: float = 0.0  # time the steps waited, in total (for /v1/status and benchmarks)
    # The collector: the complete trajectories its assembler just wrote (AssemblyWorker
    # .take_complete), taken instead of read back when a reader would get them as they are.
    handoff: Callable[[Sequence[Key]], Mapping[Key, Trajectory]] | None = None
    handed_off: int = 0  # trajectories taken from the handoff rather than read back
    # The two counters above are added to from the stage pool's threads.
    _counters: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _give_way(self) -> None:
        if self.wait_turn is None or self.yield_max_s <= 0:
            return
        start = time.monotonic()
        self.wait_turn(self.yield_max_s)
        with self._counters:
            self.yielded_s += time.monotonic() - start

    def run_pending(
        self, limit: int, keys: Iterable[Key] | None = None, force: bool = False, manual: bool = False
    ) -> list[StageReport]:
        """Each stage, in order, on up to ``limit`` trajectories that need it (among ``keys``
        when given; ``force``: whether they need it or not; ``manual``: a person asked, so
        failures are retried now, whatever the attempts and the retry delay)."""
        keys = None if keys is None else list(keys)
        versions = {stage.name: stage.version for stage in self.stages}
        reports = []
        # Trajectories read for one stage serve the next ones too (each read is a few store
        # queries over the trajectory, its turns and contents): one read per pass, not per stage.
        read: dict[Key, Trajectory] = {}
        for stage in self.stages:
            needs = Needs(
                stage.name,
                stage.version,
                max_attempts=MANUAL_ATTEMPTS if manual else self.max_attempts,
                retry_after_s=0.0 if manual else self.retry_after_s,
                force=force,
                group_by=group_by(stage),
                min_group_size=min_group_size(stage),
                # Forced or asked for by hand, a stage runs with what there is.
                after=()
                if force or manual
                else tuple((name, versions[name]) for name in after(stage) if name in versions),
            )
            self._give_way()
            due = enrichments.pending(self.store, needs, limit=limit, keys=keys)
            reports.append(self.run_stage(stage, due, read))
        return reports

    def run_stage(
        self, stage: Stage, keys: Sequence[Key], read: dict[Key, Trajectory] | None = None
    ) -> StageReport:
        """``stage`` on ``keys``; ``read``: trajectories already read in this pass (used, and
        added to), so stages of one pass read each trajectory once."""
        report = StageReport(stage.name, stage.version)
        if not keys:
            return report
        grouping = group_by(stage)
        if grouping is None:
            size = batch_size(stage)
            batches = [keys[i : i + size] for i in range(0, len(keys), size)]
        else:
            batches = enrichments.group_members(self.store, keys, grouping, batch_size(stage))
        with ThreadPoolExecutor(
            max_workers=max(1, self.concurrency), thread_name_prefix=f"enrich-{stage.name}"
        ) as pool:
            for done in pool.map(lambda batch: self._run_batch(stage, batch, read), batches):
                self._give_way()
                enrichments.write(self.store, stage.name, stage.version, done)
                for _, result in done:
                    report.add(result)
        if report.failed:
            log.warning(
                "stage %s failed for %d trajectories, e.g. %s", stage.name, report.failed, report.errors[0]
            )
        return report

    def _run_batch(
        self, stage: Stage, keys: Sequence[Key], read: dict[Key, Trajectory] | None = None
    ) -> list[tuple[Trajectory, StageResult]]:
        known = {} if read is None else read
        unread = [key for key in keys if key not in known]
        if unread and self.handoff is not None:
            given = self.handoff(unread)
            if given:
                self._give_way()
                usable = enrichments.read_as_assembled(self.store, given)
                known.update((key, t) for key, t in given.items() if key in usable)
                with self._counters:
                    self.handed_off += len(usable)
                unread = [key for key in unread if key not in known]
        if unread:
            self._give_way()
            # The batches of one stage hold distinct keys: no two threads add the same one.
            known.update(((t.tenant, t.id), t) for t in enrichments.read(self.store, unread))
        trajectories = [t for key in keys if (t := known.get(key)) is not None]
        if not trajectories:
            return []
        try:
            produced = stage.run(trajectories)
        except Exception as exc:  # a stage bug or an outage: record it, retry later, go on
            log.debug("stage %s raised", stage.name, exc_info=True)
            produced = [StageResult.failed(t.id, f"{type(exc).__name__}: {exc}") for t in trajectories]
        by_id = {result.trajectory_id: result for result in produced}
        missing = f"stage {stage.name!r} returned no result for this trajectory"
        return [(t, by_id.get(t.id) or StageResult.failed(t.id, missing)) for t in trajectories]


def from_config(
    config: EnrichConfig,
    store: Store,
    stages: Sequence[str] | None = None,
    cache: registry.StageCache | None = None,
    wait_turn: Callable[[float], object] | None = None,
    handoff: Callable[[Sequence[Key]], Mapping[Key, Trajectory]] | None = None,
) -> Runner:
    """A runner of ``stages`` (default: the enabled ones) with the limits of ``[enrich]``;
    ``wait_turn``: what it gives way to (up to ``enrich.yield_max_s`` per step); ``handoff``:
    where it takes trajectories just assembled before reading the rest from the store."""
    cache = cache or registry.StageCache(config, store)
    return Runner(
        store,
        cache.get(stages),
        concurrency=config.concurrency,
        max_attempts=config.max_attempts,
        retry_after_s=config.retry_after_s,
        wait_turn=wait_turn,
        yield_max_s=config.yield_max_s,
        handoff=handoff,
    )


def process(runner: Runner, keys: Sequence[Key], force: bool = False) -> dict[str, Any]:
    """Enrich the given trajectories now (what ``trajotel enrich`` and the process route do):
    the stages they need, or all of them with ``force``; failures are retried at once."""
    reports = runner.run_pending(max(1, len(keys)), keys=keys, force=force, manual=True) if keys else []
    return {
        "trajectories": [trajectory_id for _, trajectory_id in keys],
        "stages": [report.to_dict() for report in reports],
    }
