"""What a dialect is: how to recognise its spans, its rename table, and (for dialects that do
not send GenAI message JSON) a shape function that rebuilds the canonical content.

The registry of dialects and the generic code that applies them is in ``dialects``; each
foreign dialect lives in a module of its own next to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Shaped:
    """A dialect's span content in canonical GenAI form (parts model, see genai-semconv §3).

    ``None`` means "this span says nothing about it"; an empty list means "said: none"."""

    input_messages: list[dict[str, Any]] | None = None
    output_messages: list[dict[str, Any]] | None = None
    system_instructions: list[dict[str, Any]] | None = None
    tool_definitions: list[dict[str, Any]] | None = None
    # Canonical attributes derived from the dialect's (e.g. gen_ai.operation.name from a span
    # kind). Added only where the span has no value of its own for the key.
    attributes: dict[str, str] = field(default_factory=dict)
    # Attribute keys whose content now lives in the fields above; they are dropped from the
    # stored span (the content is stored once, content-addressed, like canonical content).
    consumed: set[str] = field(default_factory=set)


# Reads the span's attributes (all values as text, structured ones as JSON) and returns the
# canonical content; raises ValueError (with the attribute and why) for content it cannot read.
ShapeFunction = Callable[[dict[str, str]], Shaped]


@dataclass(frozen=True)
class Dialect:
    name: str
    # A span belongs to the dialect when it carries any of these attribute keys ...
    markers: tuple[str, ...] = ()
    # ... or any key starting with one of these (flattened encodings such as ``llm.input_messages.0.``).
    marker_prefixes: tuple[str, ...] = ()
    renames: dict[str, str] = field(default_factory=dict)
    # Value rewrites for canonical keys, e.g. old provider spellings.
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    shape: ShapeFunction | None = None

    def matches(self, attributes: dict[str, str]) -> bool:
        if any(key in attributes for key in self.markers):
            return True
        return bool(self.marker_prefixes) and any(key.startswith(self.marker_prefixes) for key in attributes)
