"""Fixtures of the format tests: the consumers' venvs (built from PyPI on first use; a consumer
that cannot be built fails the tests that need it) and a runner for their validators."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.export.formats import consumers

Validate = Callable[..., dict[str, Any]]


def _runner(name: str) -> Validate:
    consumers.ensure(consumers.CONSUMERS[name])  # a build failure fails the test here

    def validate(script: str, *args: str | Path, reject: str | None = None) -> dict[str, Any]:
        """Run ``validators/<script> args``; expect acceptance (its JSON summary is returned) or,
        with ``reject``, a rejection whose message contains it."""
        done = consumers.run_validator(name, script, *map(str, args))
        if reject is not None:
            assert done.returncode == 1, f"{name} accepted what it should reject:\n{done.stdout}{done.stderr}"
            assert reject in done.stderr, done.stderr
            return {"stderr": done.stderr}
        assert done.returncode == 0, f"{name} rejected the file:\n{done.stderr[-4000:]}"
        return json.loads(done.stdout.strip().splitlines()[-1])

    return validate


@pytest.fixture(scope="session")
def hf() -> Validate:
    return _runner("hf")


@pytest.fixture(scope="session")
def art() -> Validate:
    return _runner("art")


@pytest.fixture(scope="session")
def agentlightning() -> Validate:
    return _runner("agentlightning")


@pytest.fixture(scope="session")
def eval_protocol() -> Validate:
    return _runner("eval-protocol")
