"""A store written before a storage migration reads the same after it: turns written whole
before 0012 (turns by reference) and spans written before 0013 (span inputs dictionary-encoded)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from trajotel.normalize.records import content_hash
from trajotel.normalize.values import dumps
from trajotel.store import Store
from trajotel.store.migrations import _LEDGER as LEDGER
from trajotel.store.migrations import apply_migrations, available_migrations
from trajotel.store.trajectories import read_trajectory

BEFORE = 12  # the first migration this test upgrades across


@pytest.fixture
def old_store(store_root: Path) -> Iterator[Store]:
    """A store with only the migrations before ``BEFORE`` applied, as an older trajotel left it."""
    store = Store.open(f"chdb://{store_root}", database=f"t_{uuid.uuid4().hex[:12]}", migrate=False)
    try:
        store.command(LEDGER)
        for migration in available_migrations():
            if migration.version < BEFORE:
                for statement in migration.statements():
                    store.command(statement)
                store.insert_json_rows(
                    "schema_migrations",
                    [{"Version": migration.version, "Name": migration.name, "Checksum": migration.checksum}],
                )
        yield store
    finally:
        try:
            store.command(f"DROP DATABASE IF EXISTS {store.database}")
        finally:
            store.close()


def _message(role: str, text: str) -> dict[str, object]:
    return {"role": role, "parts": [{"type": "text", "content": text}]}


def test_rows_written_before_the_storage_migrations_read_the_same_after(old_store: Store) -> None:
    messages = [_message("user", "add 2 and 3"), _message("assistant", "5"), _message("user", "in words?")]
    answer = _message("assistant", "five")
    hashes = {id(m): content_hash(dumps(m)) for m in [*messages, answer]}
    old_store.insert_json_rows(
        "message_contents",
        [
            {"Tenant": "default", "Hash": hashes[id(m)], "Kind": "message", "Content": dumps(m)}
            for m in [*messages, answer]
        ],
    )
    inputs = [[messages[0]], messages]  # the second turn's input repeats the first one's, whole
    outputs = [[messages[1]], [answer]]
    old_store.insert_json_rows(
        "turns_data",
        [
            {
                "Tenant": "default",
                "TrajectoryId": "old",
                "Version": 1,
                "TurnIndex": i,
                "TraceId": "t1",
                "SpanId": f"s{i}",
                "StartTime": "2026-12-01 00:00:00.000000000",
                "EndTime": "2026-12-01 00:00:01.000000000",
                "InputMessageHashes": [hashes[id(m)] for m in inputs[i]],
                "OutputMessageHashes": [hashes[id(m)] for m in outputs[i]],
            }
            for i in range(2)
        ],
    )
    old_store.insert_json_rows(
        "trajectories_data",
        [
            {
                "Tenant": "default",
                "TrajectoryId": "old",
                "Version": 1,
                "Status": "complete",
                "TurnCount": 2,
                "StartTime": "2026-12-01 00:00:00.000000000",
                "EndTime": "2026-12-01 00:00:02.000000000",
            }
        ],
    )
    span_inputs = [[hashes[id(m)] for m in messages[:n]] for n in (1, 3)]
    old_store.insert_json_rows(
        "spans",
        [
            {
                "Tenant": "default",
                "TraceId": "t1",
                "SpanId": f"s{i}",
                "Timestamp": "2026-12-01 00:00:00.000000000",
                "InputMessageHashes": span_inputs[i],
            }
            for i in range(2)
        ],
    )

    applied = apply_migrations(old_store)
    assert BEFORE in applied and BEFORE + 1 in applied

    read = read_trajectory(old_store, "old")
    assert read is not None
    assert [[m.to_semconv() for m in t.input_messages] for t in read.turns] == inputs
    view = old_store.query("SELECT input_message_hashes, input_message_count FROM turns ORDER BY turn_index")
    assert view.rows == [[[hashes[id(m)] for m in turn], len(turn)] for turn in inputs]
    spans = old_store.query("SELECT InputMessageHashes FROM spans ORDER BY SpanId").rows
    assert [row[0] for row in spans] == span_inputs
    contents = {
        h: json.loads(c) for h, c in old_store.query("SELECT Hash, Content FROM message_contents").rows
    }
    assert [contents[h] for h in spans[1][0]] == messages
