"""Versioned schema migrations: ``NNNN_name.sql`` files applied in order at start.

Each applied file is recorded (version, name, checksum) in ``schema_migrations``; applying is
idempotent, and a file edited after it was applied is refused rather than silently skipped.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from trajotel.errors import StoreError

if TYPE_CHECKING:
    from trajotel.store.connection import Store

log = logging.getLogger(__name__)

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations
(
    Version UInt32,
    Name String,
    Checksum String,
    AppliedAt DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree
ORDER BY Version
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()[:16]

    def statements(self) -> list[str]:
        # Statements end with ';' at the end of a line; comments are dropped first.
        body = "\n".join(line for line in self.sql.splitlines() if not line.strip().startswith("--"))
        return [s.strip() for s in re.split(r";\s*(?:\n|$)", body) if s.strip()]


def available_migrations() -> list[Migration]:
    found = []
    for entry in resources.files(__package__).iterdir():
        m = _FILE.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text()))
    found.sort(key=lambda mig: mig.version)
    versions = [mig.version for mig in found]
    if len(set(versions)) != len(versions):
        raise StoreError(f"duplicate migration numbers among {versions}")
    return found


def apply_migrations(store: Store) -> list[int]:
    """Apply every migration not yet recorded; return the versions applied now."""
    store.command(_LEDGER)
    applied = {
        int(row[0]): str(row[1])
        for row in store.query("SELECT Version, Checksum FROM schema_migrations FINAL").rows
    }
    done = []
    for mig in available_migrations():
        if mig.version in applied:
            if applied[mig.version] != mig.checksum:
                raise StoreError(
                    f"migration {mig.version:04d}_{mig.name} changed after it was applied to this store",
                    hint="never edit an applied migration: add a new numbered file instead",
                )
            continue
        log.info("applying migration %04d_%s", mig.version, mig.name)
        for statement in mig.statements():
            store.command(statement)
        store.insert_json_rows(
            "schema_migrations", [{"Version": mig.version, "Name": mig.name, "Checksum": mig.checksum}]
        )
        done.append(mig.version)
    return done
