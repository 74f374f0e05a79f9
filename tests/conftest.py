"""Shared fixtures. Each test that needs the embedded store gets its own database; chdb allows
one store directory per process at a time, so all in-process stores live under one session path
and are closed at teardown."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from trajotel.store import Store


@pytest.fixture(scope="session")
def store_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb")


def _scratch_store(store_root: Path) -> Iterator[Store]:
    """A store in a database of its own in the session's chdb directory, dropped afterwards."""
    opened = Store.open(f"chdb://{store_root}", database=f"t_{uuid.uuid4().hex[:12]}")
    try:
        yield opened
    finally:
        try:
            opened.command(f"DROP DATABASE IF EXISTS {opened.database}")
        finally:
            opened.close()


@pytest.fixture
def store(store_root: Path) -> Iterator[Store]:
    yield from _scratch_store(store_root)


@pytest.fixture
def other_store(store_root: Path) -> Iterator[Store]:
    """A second, empty store in the same process (same chdb directory, its own database)."""
    yield from _scratch_store(store_root)
