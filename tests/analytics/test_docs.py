"""docs/analytics.md cannot rot: every SQL block in it runs on the store of conftest.py and finds
rows (its runs are from the last days, as the examples ask), and every column of every
analytics view is documented there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from trajotel.store import Store

DOC = Path(__file__).resolve().parents[2] / "docs" / "analytics.md"
BLOCKS = re.findall(r"```sql\n(.*?)```", DOC.read_text(), flags=re.S)


def test_the_page_has_example_queries() -> None:
    assert len(BLOCKS) >= 8


@pytest.mark.parametrize("sql", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_every_documented_query_runs_and_finds_rows(filled: Store, sql: str) -> None:
    assert filled.query(sql).rows, f"no rows from:\n{sql}"


def test_every_column_of_every_analytics_view_is_documented(filled: Store) -> None:
    text = DOC.read_text()
    views = [
        str(row[0])
        for row in filled.query(
            "SELECT name FROM system.tables WHERE database = currentDatabase() AND name LIKE 'analytics\\_%'"
        ).rows
    ]
    assert len(views) == 14
    for view in views:
        assert f"`{view}" in text, view
        if view.endswith("_filtered"):
            continue  # the same columns as the plain view
        columns = [str(row[0]) for row in filled.query(f"DESCRIBE TABLE {view}").rows]
        missing = [c for c in columns if f"`{c}`" not in text]
        assert not missing, f"{view}: columns not in docs/analytics.md: {missing}"
