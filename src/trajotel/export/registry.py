"""Finding export formats: every module of ``trajotel.export.formats`` that defines ``FORMAT`` (or
``FORMATS``, a sequence), plus ``trajotel.export_formats`` entry points of other distributions
(``name = "package.module:FORMAT"``). A module that fails to import is reported by name, and
only breaks the formats it would define."""

from __future__ import annotations

import importlib
import logging
import pkgutil
from dataclasses import dataclass, field
from importlib.metadata import entry_points

from trajotel.errors import InvalidInputError
from trajotel.export import formats as formats_package
from trajotel.export.format import Format

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "trajotel.export_formats"


@dataclass
class Registry:
    formats: dict[str, Format] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)  # module or entry point -> why

    def get(self, name: str) -> Format:
        found = self.formats.get(name)
        if found is not None:
            return found
        hint = f"formats: {', '.join(sorted(self.formats))}"
        if self.broken:
            hint += f"; not loaded: {', '.join(f'{k} ({v})' for k, v in sorted(self.broken.items()))}"
        raise InvalidInputError(f"unknown export format {name!r}", hint=hint)


def _add(registry: Registry, source: str, value: object) -> None:
    items = value if isinstance(value, list | tuple) else [value]
    for item in items:
        if not isinstance(item, Format):
            registry.broken[source] = f"not a Format: {type(item).__name__}"
            continue
        if item.name in registry.formats:
            registry.broken[source] = f"format name {item.name!r} is defined twice"
            continue
        registry.formats[item.name] = item


def load_formats() -> Registry:
    registry = Registry()
    for module in sorted(pkgutil.iter_modules(formats_package.__path__), key=lambda m: m.name):
        if module.name.startswith("_"):
            continue
        name = f"{formats_package.__name__}.{module.name}"
        try:
            loaded = importlib.import_module(name)
        except Exception as exc:  # one broken format must not hide the others
            log.warning("export format module %s failed to import: %s", name, exc)
            registry.broken[module.name] = f"{type(exc).__name__}: {exc}"
            continue
        value = getattr(loaded, "FORMATS", None) or getattr(loaded, "FORMAT", None)
        if value is not None:
            _add(registry, module.name, value)
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            _add(registry, point.name, point.load())
        except Exception as exc:
            log.warning("export format entry point %s failed to load: %s", point.name, exc)
            registry.broken[point.name] = f"{type(exc).__name__}: {exc}"
    return registry


def get_format(name: str) -> Format:
    return load_formats().get(name)
