"""Export tests: stores filled with generated trajectories (tests/export/synthetic.py) written the
way the assembler writes them, their feedback through the feedback store."""

from __future__ import annotations

from collections.abc import Iterable

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
