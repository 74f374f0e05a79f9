"""Named exports' runs and ledger, and where imported trajectories came from (migration 0010).

A named export remembers which trajectory versions its runs wrote (``export_items``); a run
counts once it is ``done`` (its files and manifest are in place), so the items of a run that
crashed half-way are ignored and their trajectories are written again by the next run.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from trajotel.normalize.values import ns_to_text
from trajotel.store.connection import Store

WRITING = "writing"
DONE = "done"
FAILED = "failed"
RESET = "reset"  # runs up to this one no longer count

# The done runs of the named export since its last reset.
_COUNTED_RUNS = (
    "SELECT Run FROM export_runs FINAL WHERE Name = {export_name:String} AND Status = 'done' "
    "AND Run > (SELECT max(Run) FROM export_runs FINAL WHERE Name = {export_name:String} "
    "AND Status = 'reset')"
)


def not_exported_condition(name: str) -> tuple[str, dict[str, Any]]:
    """A condition on the ``trajectories`` view: the current version was not written by a
    counted run of export ``name``."""
    return (
        "(tenant, trajectory_id, version) NOT IN (SELECT Tenant, TrajectoryId, Version FROM export_items "
        f"WHERE Name = {{export_name:String}} AND Run IN ({_COUNTED_RUNS}))",
        {"export_name": name},
    )


@dataclass
class ExportRun:
    name: str
    run: int
    status: str
    spec: str = "{}"  # JSON
    files: list[str] = field(default_factory=list)
    manifest: str = ""  # JSON, once done
    trajectories: int = 0
    records: int = 0
    error: str = ""
    started_at_ns: int = 0
    updated_at_ns: int = 0


def runs(store: Store, name: str) -> list[ExportRun]:
    """Every run of the export, oldest first, each in its newest state."""
    result = store.query(
        "SELECT Name, Run, Status, Spec, Files, Manifest, Trajectories, Records, Error, "
        "toUnixTimestamp64Nano(toDateTime64(StartedAt, 9)) AS Started, "
        "toUnixTimestamp64Nano(toDateTime64(UpdatedAt, 9)) AS Updated "
        "FROM export_runs FINAL WHERE Name = {name:String} ORDER BY Run",
        {"name": name},
    )
    return [
        ExportRun(str(n), int(r), str(st), str(sp), list(f), str(m), int(t), int(rc), str(e), int(s), int(u))
        for n, r, st, sp, f, m, t, rc, e, s, u in result.rows
    ]


def export_names(store: Store) -> list[str]:
    return [str(row[0]) for row in store.query("SELECT DISTINCT Name FROM export_runs ORDER BY Name").rows]


def save_run(store: Store, run: ExportRun) -> None:
    """Write the run's new state (the newest row of a run wins)."""
    # Strictly after the previous state, even within one microsecond: ties would be ambiguous.
    run.updated_at_ns = max(time.time_ns() // 1000 * 1000, run.updated_at_ns + 1000)
    store.insert_json_rows(
        "export_runs",
        [
            {
                "Name": run.name,
                "Run": run.run,
                "Status": run.status,
                "Spec": run.spec,
                "Files": run.files,
                "Manifest": run.manifest,
                "Trajectories": run.trajectories,
                "Records": run.records,
                "Error": run.error,
                "StartedAt": ns_to_text(run.started_at_ns)[:-3],
                "UpdatedAt": ns_to_text(run.updated_at_ns)[:-3],
            }
        ],
    )


def record_items(store: Store, name: str, run: int, items: Iterable[tuple[str, str, int, int]]) -> None:
    """(tenant, trajectory id, version, assembled at ns) written by run ``run``."""
    store.insert_json_rows(
        "export_items",
        (
            {
                "Name": name,
                "Run": run,
                "Tenant": tenant,
                "TrajectoryId": trajectory_id,
                "Version": version,
                "AssembledAt": ns_to_text(assembled_ns)[:-3],
            }
            for tenant, trajectory_id, version, assembled_ns in items
        ),
    )


def ledger_summary(store: Store, name: str) -> tuple[int, int]:
    """(trajectory versions written by the counted runs, newest assembly time among them in ns)."""
    rows = store.query(
        "SELECT count(), toUnixTimestamp64Nano(toDateTime64(max(AssembledAt), 9)) FROM export_items "
        f"WHERE Name = {{export_name:String}} AND Run IN ({_COUNTED_RUNS})",
        {"export_name": name},
    ).rows
    count, newest = rows[0] if rows else (0, 0)
    return int(count), int(newest or 0) if count else 0


# --- imports ------------------------------------------------------------------------------------
def existing_hashes(store: Store, tenant: str, hashes: Sequence[str]) -> set[str]:
    """Which of these message bodies the store holds already."""
    if not hashes:
        return set()
    result = store.query(
        "SELECT DISTINCT Hash FROM message_contents WHERE Tenant = {tenant:String} "
        "AND Hash IN {hashes:Array(String)}",
        {"tenant": tenant, "hashes": list(hashes)},
    )
    return {str(row[0]) for row in result.rows}


def record_imports(store: Store, rows: Iterable[tuple[str, str, int, str, str]]) -> None:
    """(tenant, trajectory id, version, format, source) of imported trajectory versions."""
    store.insert_json_rows(
        "trajectory_imports",
        (
            {"Tenant": t, "TrajectoryId": i, "Version": v, "Format": fmt, "Source": source}
            for t, i, v, fmt, source in rows
        ),
    )
