"""Store for the normalize round-trip tests: a fresh database per test, in the session's single
embedded-store directory.

chdb allows one store directory per process, so the directory must be the same for the whole
pytest session. ``store_root`` (tests/conftest.py) is that session-scoped directory; reusing it
here keeps this package's tests compatible with every other test that opens the embedded store
in the same run."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from trajotel.store import Store


@pytest.fixture
def ch_store(store_root: Path) -> Iterator[Store]:
    opened = Store.open(f"chdb://{store_root}", database=f"t_{uuid.uuid4().hex[:12]}")
    try:
        yield opened
    finally:
        try:
            opened.command(f"DROP DATABASE IF EXISTS {opened.database}")
        finally:
            opened.close()
