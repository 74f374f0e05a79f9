"""Export tests: stores filled with generated trajectories (tests/export/synthetic.py) written the
way the assembler writes them, their feedback through the feedback store."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from trajotel.assemble.model import Trajectory
from trajotel.store import Store
from trajotel.store.feedback import write_feedback
from trajotel.store.trajectories import write_trajectories


def fill(store: Store, trajectories: Iterable[Trajectory]) -> list[Trajectory]:
    """Write the trajectories (and their feedback) as the assembler and the API would."""
    items = list(trajectories)
    write_trajectories(store, [(t, f"fingerprint-{t.id}-{t.version}") for t in items], set())
    for tenant in {t.tenant for t in items}:
        write_feedback(store, tenant, [f for t in items if t.tenant == tenant for f in t.feedback])
    return items


@pytest.fixture
def other_store(store_root: Path) -> Iterator[Store]:
    """A second, empty store in the same process (same chdb directory, its own database)."""
    opened = Store.open(f"chdb://{store_root}", database=f"t_{uuid.uuid4().hex[:12]}")
    try:
        yield opened
    finally:
        try:
            opened.command(f"DROP DATABASE IF EXISTS {opened.database}")
        finally:
            opened.close()
