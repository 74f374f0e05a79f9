"""The consumer venvs themselves (tests/export/formats/consumers.py)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("name", ["hf", "art", "agentlightning", "eval_protocol"])
def test_consumers_run_without_torch(name: str, request: pytest.FixtureRequest) -> None:
    """The consumers' data paths are checked without torch (no GPU in CI, and it is 1 GB+)."""
    validate = request.getfixturevalue(name)
    assert validate("no_torch.py") == {"torch": False}
