"""Finding stages: the entry point group ``trajotel.enrich_stages`` (name -> factory).

Which stages run, and in which order, is ``[enrich] stages`` in the collector's config. A stage's
options are its ``[enrich.<name>]`` section when the config has one (built-in: judge, group,
embeddings); a third-party stage reads its own settings (environment variables, say).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from trajotel.config import EnrichConfig
from trajotel.enrich.stage import Stage, StageSettings
from trajotel.errors import ConfigError
from trajotel.store import Store

GROUP = "trajotel.enrich_stages"


def available() -> dict[str, EntryPoint]:
    """Registered stages by name."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def enabled_names(config: EnrichConfig) -> list[str]:
    """``[enrich] stages`` as a list, in order, without blanks or repeats."""
    names: list[str] = []
    for name in config.stages.split(","):
        if (name := name.strip()) and name not in names:
            names.append(name)
    return names


def sections(config: EnrichConfig) -> dict[str, dict[str, Any]]:
    """The ``[enrich.<name>]`` sections by name."""
    return {
        f.name: dataclasses.asdict(value)
        for f in dataclasses.fields(config)
        if dataclasses.is_dataclass(value := getattr(config, f.name))
    }


def load(config: EnrichConfig, store: Store | None, names: Sequence[str] | None = None) -> list[Stage]:
    """Instantiate the stages ``names`` (default: the enabled ones), in that order."""
    registered = available()
    by_name = sections(config)
    stages = []
    for name in enabled_names(config) if names is None else names:
        entry = registered.get(name)
        if entry is None:
            raise ConfigError(
                f"[enrich] stages: no enrichment stage named {name!r}",
                hint=f"registered: {', '.join(sorted(registered)) or 'none'} (entry point group {GROUP}; "
                "after adding one, reinstall the package that declares it)",
            )
        settings = StageSettings(
            options=by_name.get(name, {}), sections=by_name, store=store, concurrency=config.concurrency
        )
        stage = entry.load()(settings)
        _check(stage, entry)
        stages.append(stage)
    return stages


def _check(stage: Any, entry: EntryPoint) -> None:
    problems = [
        f"no {attr!r}" for attr in ("name", "version") if not isinstance(getattr(stage, attr, None), str)
    ]
    if not callable(getattr(stage, "run", None)):
        problems.append("no run() method")
    if problems:
        raise ConfigError(
            f"enrichment stage {entry.name!r} ({entry.value}) is not a Stage: {', '.join(problems)}",
            hint="see trajotel.enrich.stage.Stage",
        )
    if stage.name != entry.name:
        raise ConfigError(
            f"enrichment stage {entry.value} calls itself {stage.name!r} but is registered as {entry.name!r}",
            hint="results are stored under the stage's name: make the two the same",
        )


class StageCache:
    """Stages loaded once and shared (by the collector's worker and manual runs), so a stage's
    own limits, such as the judge's calls in flight, hold across both."""

    def __init__(self, config: EnrichConfig, store: Store | None) -> None:
        self.config = config
        self.store = store
        self._loaded: dict[str, Stage] = {}
        self._lock = threading.Lock()

    def get(self, names: Sequence[str] | None = None) -> list[Stage]:
        """The stages ``names`` (default: the enabled ones), in that order."""
        wanted = enabled_names(self.config) if names is None else list(names)
        with self._lock:
            missing = [name for name in wanted if name not in self._loaded]
            for stage in load(self.config, self.store, missing):
                self._loaded[stage.name] = stage
            return [self._loaded[name] for name in wanted]
