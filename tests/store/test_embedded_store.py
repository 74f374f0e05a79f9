"""The embedded store: migrations, the single-process lock, URL errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from trajotel.errors import StoreError, StoreLockedError
from trajotel.store import Store
from trajotel.store.migrations import apply_migrations, available_migrations

TABLES = {
    "spans",
    "message_contents",
    "logs",
    "trajectories_data",
    "turns_data",
    "feedback",
    "schema_migrations",
}
VIEWS = {"trajectories", "turns", "tool_calls", "llm_calls"}


def test_migrations_create_every_table_and_view_once(store: Store) -> None:
    names = {row[0] for row in store.query("SHOW TABLES").rows}
    assert names >= TABLES | VIEWS
    recorded = store.query("SELECT Version, Name FROM schema_migrations FINAL ORDER BY Version").rows
    assert recorded == [[m.version, m.name] for m in available_migrations()]
    assert apply_migrations(store) == []  # idempotent
    assert store.query("SELECT count() FROM schema_migrations").rows == [[len(recorded)]]


def test_an_edited_migration_is_refused(store: Store) -> None:
    store.command(
        "ALTER TABLE schema_migrations UPDATE Checksum = 'edited' WHERE Version = 1 "
        "SETTINGS mutations_sync = 1"
    )
    with pytest.raises(StoreError, match="changed after it was applied") as info:
        apply_migrations(store)
    assert info.value.hint and "new numbered file" in info.value.hint


def test_store_held_by_another_process_names_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "held"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import sys
            from trajotel.store import Store
            store = Store.open("chdb://{path}", migrate=False)
            print("ready", flush=True)
            sys.stdin.read()
        """),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreLockedError) as info:
            Store.open(f"chdb://{path}", database=f"t_{uuid.uuid4().hex[:8]}")
        assert f"held by process {holder.pid}" in str(info.value)
        assert info.value.hint and "trajotel query --data" in info.value.hint
    finally:
        holder.communicate("", timeout=30)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("chdb://", "has no path"),
        ("mysql://localhost", "unsupported store URL"),
        ("chdb://memory", "has no path"),
    ],
)
def test_bad_store_urls_are_explained(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message) as info:
        Store.open(url)
    assert info.value.hint


def test_invalid_database_name_is_refused(store_root: Path) -> None:
    with pytest.raises(StoreError, match="invalid database name"):
        Store.open(f"chdb://{store_root}", database="x; DROP TABLE spans")
