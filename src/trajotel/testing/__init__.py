"""Test helpers that need nothing beyond the standard library (safe to import anywhere)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trajotel.testing.fake_llm import DEFAULT_SCENARIOS, FakeLLMServer, Step

__all__ = ["DEFAULT_SCENARIOS", "FakeLLMServer", "Step"]


def __getattr__(name: str) -> Any:
    # Lazy, so `python -m trajotel.testing.fake_llm` does not import the module twice.
    if name in __all__:
        from trajotel.testing import fake_llm

        return getattr(fake_llm, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
