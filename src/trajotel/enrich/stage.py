"""The enrichment stage interface: what a stage is, what it gets and what it gives back.

A stage adds knowledge to complete trajectories: an outcome, a score, a summary, decisions,
vectors, ... It has a ``name`` (unique; its results are stored under it), a ``version`` (bump it
when its logic or its settings change what it produces: every trajectory is then enriched again)
and optionally ``batch_size`` (at most that many trajectories per ``run`` call).

``run`` gets a batch of assembled trajectories (newest version, full turns) and returns one
``StageResult`` per trajectory, in any order. A stage should not raise for one bad trajectory: it
returns a result with ``error`` set for it (recorded, retried on a later pass, never blocking the
others). An exception out of ``run`` marks the whole batch failed the same way.

Stages are found through the entry point group ``trajotel.enrich_stages``: each entry point names
a factory ``factory(settings: StageSettings) -> Stage``. ``settings.options`` holds the stage's
``[enrich.<name>]`` section of the collector's config; ``settings.store`` is the store for
stages that write their own tables beside the ``enrichments`` row (embeddings do).

A stage whose ``group_by`` is set (e.g. ``"task"``) is judged in groups: when a trajectory
needs it, the runner gives it every complete trajectory of the same tenant sharing that key
(``run`` gets the whole group as one batch, and results for all of them are stored again).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from trajotel.assemble.model import Trajectory

if TYPE_CHECKING:
    from trajotel.store import Store


@dataclass
class StageResult:
    """What one stage found about one trajectory. ``result`` is any JSON object (the stage's own
    shape, documented by it); ``score`` is in [0, 1] when set; ``label`` a short category such as
    an outcome; ``summary`` searchable text. Token counts and cost are what producing it took."""

    trajectory_id: str
    result: dict[str, Any] = field(default_factory=dict)
    score: float | None = None
    label: str | None = None
    summary: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    error: str | None = None  # set: the stage failed for this trajectory (retried later)

    def __post_init__(self) -> None:
        if self.score is not None and not 0.0 <= self.score <= 1.0:
            raise ValueError(f"trajectory {self.trajectory_id}: score {self.score} is outside [0, 1]")

    @classmethod
    def failed(cls, trajectory_id: str, error: str, **usage: Any) -> StageResult:
        return cls(trajectory_id, error=error, **usage)

    def result_json(self) -> str:
        return json.dumps(self.result, sort_keys=True, ensure_ascii=False, default=str)


@runtime_checkable
class Stage(Protocol):
    """An enrichment stage: ``name``, ``version`` and ``run`` are required. Optional attributes
    (the runner uses these defaults when absent; ``BaseStage`` declares them):
    ``batch_size`` (20), ``group_by`` (None: each trajectory on its own; "task" or
    "task_and_agent": groups, see the module doc), ``min_group_size`` (1), ``after`` (()): names
    of stages whose result it uses; while one of them runs too, a trajectory waits for that
    stage's result (or its last failed attempt) before this stage takes it."""

    name: str
    version: str

    def run(self, batch: Sequence[Trajectory]) -> list[StageResult]: ...


class BaseStage:
    """Defaults for the optional members; subclass it or write the members yourself."""

    name: str = ""
    version: str = "1"
    batch_size: int = 20
    group_by: str | None = None
    min_group_size: int = 1
    after: tuple[str, ...] = ()

    def run(self, batch: Sequence[Trajectory]) -> list[StageResult]:
        raise NotImplementedError


def batch_size(stage: Stage) -> int:
    return max(1, int(getattr(stage, "batch_size", BaseStage.batch_size)))


def group_by(stage: Stage) -> str | None:
    return getattr(stage, "group_by", None)


def min_group_size(stage: Stage) -> int:
    return max(1, int(getattr(stage, "min_group_size", 1)))


def after(stage: Stage) -> tuple[str, ...]:
    return tuple(getattr(stage, "after", ()))


@dataclass
class StageSettings:
    """What a stage factory gets: its config section, every ``[enrich.*]`` section (for stages
    that share one: group uses the judge's endpoint) and the store."""

    options: Mapping[str, Any] = field(default_factory=dict)
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    store: Store | None = None
    concurrency: int = 1  # how many model calls a stage may have in flight ([enrich] concurrency)

    def get(self, key: str, default: Any) -> Any:
        return self.options.get(key, default)
