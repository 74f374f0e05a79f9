"""The query functions over http:// give the numbers they give on the embedded store: the filters
travel as server-side query parameters ({name:Type}) into the parameterized views there."""

from __future__ import annotations

import uuid
from datetime import timedelta

from trajotel.store import Store, analytics

from tests.analytics.conftest import CODER, D0, D1, fill
from tests.store.conftest import clickhouse_server_url  # noqa: F401 (the fixture)


def test_the_functions_over_http_match_the_embedded_store(filled: Store, clickhouse_server_url: str) -> None:  # noqa: F811
    remote = Store.open(clickhouse_server_url, database=f"t_{uuid.uuid4().hex[:12]}")
    try:
        fill(remote)
        calls = [
            lambda s: analytics.success_rates(s, "agent", tenant="default", agents=[CODER]),
            lambda s: analytics.success_rates(s, "model", since=D1),
            lambda s: analytics.tool_stats(s, since=D0 + timedelta(hours=10), until=D1 + timedelta(hours=12)),
            lambda s: analytics.tool_sequences(s, tenant="default", limit=2),
            lambda s: analytics.failure_patterns(s, agents=["support-agent"], examples=1),
        ]
        for call in calls:
            here, there = call(filled), call(remote)
            assert there == here and here
    finally:
        remote.command(f"DROP DATABASE IF EXISTS {remote.database}")
        remote.close()
