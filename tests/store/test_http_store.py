"""The store over http://, through clickhouse-connect's stock HTTP client: against the server named
by TRAJOTEL_TEST_CLICKHOUSE_URL, or else the chdb-backed shim (tests/store/conftest.py). Each test
gets its own database, dropped afterwards so a real server is left as found."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

import clickhouse_connect
import pytest
from clickhouse_connect.driver.compression import available_compression

from trajotel.errors import StoreError
from trajotel.store import Store
from trajotel.store.migrations import apply_migrations, available_migrations

TABLES = {
    "spans",
    "message_contents",
    "logs",
    "trajectories_data",
    "turns_data",
    "feedback_data",
    "trajectory_edits",
    "evaluation_events",
    "reward_rule",
    "enrichments",
    "trajectory_search_text",
    "trajectory_search_terms",
    "trajectory_vectors",
}
VIEWS = {"trajectories", "turns", "tool_calls", "llm_calls", "feedback", "trajectories_current"}


@pytest.fixture
def database() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def http_store(clickhouse_server_url: str, database: str) -> Iterator[Store]:
    store = Store.open(clickhouse_server_url, database=database)
    try:
        yield store
    finally:
        try:
            store.command(f"DROP DATABASE IF EXISTS {database}")
        finally:
            store.close()


def _span(span_id: str, **extra: object) -> dict[str, object]:
    return {"Tenant": "acme", "TraceId": "trace-1", "SpanId": span_id, **extra}


def test_the_store_really_talks_http(http_store: Store) -> None:
    assert http_store.url.scheme == "http" and not http_store.url.embedded
    # The session's current database is the one asked for, not the "default" used to create it.
    assert http_store.query("SELECT currentDatabase()").rows == [[http_store.database]]


def test_migrations_are_applied_and_recorded(http_store: Store) -> None:
    recorded = http_store.query("SELECT Version, Name FROM schema_migrations FINAL ORDER BY Version").rows
    # Today 0001..0003; written so that adding 0004 does not break this test.
    assert [row[0] for row in recorded] == list(range(1, len(recorded) + 1)) and len(recorded) >= 3
    assert recorded == [[m.version, m.name] for m in available_migrations()]


def test_reopening_applies_nothing_new(http_store: Store, clickhouse_server_url: str, database: str) -> None:
    # No FINAL: a migration applied twice would show up as a second row (the ledger has no dedup).
    ledger = "SELECT Version, Checksum, AppliedAt FROM schema_migrations ORDER BY Version"
    before = http_store.query(ledger).rows
    with Store.open(clickhouse_server_url, database=database) as again:
        assert apply_migrations(again) == []
        assert again.query(ledger).rows == before
    assert len(before) == len(available_migrations())


def test_every_table_and_view_exists(http_store: Store) -> None:
    rows = http_store.query(
        "SELECT name, engine FROM system.tables WHERE database = {db:String}", {"db": http_store.database}
    ).rows
    engines = {name: engine for name, engine in rows}
    assert {n for n, e in engines.items() if e != "View"} >= TABLES | {"schema_migrations"}
    assert {n for n, e in engines.items() if e == "View"} >= VIEWS


def test_an_insert_repeated_with_its_dedup_token_lands_once(http_store: Store) -> None:
    (engine_full,) = http_store.query(
        "SELECT engine_full FROM system.tables WHERE database = {db:String} AND name = 'spans'",
        {"db": http_store.database},
    ).rows[0]
    assert "non_replicated_deduplication_window" in engine_full
    rows = [_span("s1"), _span("s2")]
    assert http_store.insert_json_rows("spans", rows, dedup_token="spool-1:0") == 2
    assert http_store.insert_json_rows("spans", rows, dedup_token="spool-1:0") == 2  # a replay
    assert http_store.query("SELECT count() FROM spans").rows == [[2]]
    # The token, not the content, decides: the same rows under a new token are a new insert.
    http_store.insert_json_rows("spans", rows, dedup_token="spool-1:1")
    assert http_store.query("SELECT count() FROM spans").rows == [[4]]


def test_query_with_server_side_params_returns_typed_rows(http_store: Store) -> None:
    http_store.insert_json_rows(
        "spans",
        [
            _span("s1", Timestamp="2024-05-01 12:00:00.123456", InputTokens=12, SpanAttributes={"k": "v"}),
            _span("s2", TraceId="trace-2"),
        ],
    )
    tricky = "it's a \\ tab\tand\nnewline"  # must survive the server-side parameter encoding
    result = http_store.query(
        "SELECT SpanId, Timestamp, InputTokens, OutputTokens, SpanAttributes, {tricky:String} AS echo "
        "FROM spans WHERE TraceId = {trace:String} AND Tenant = {tenant:String}",
        {"trace": "trace-1", "tenant": "acme", "tricky": tricky},
    )
    assert result.columns == ["SpanId", "Timestamp", "InputTokens", "OutputTokens", "SpanAttributes", "echo"]
    [[span_id, ts, input_tokens, output_tokens, attributes, echo]] = result.rows
    assert span_id == "s1"
    assert isinstance(ts, datetime)
    assert ts.replace(tzinfo=ts.tzinfo or UTC) == datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert input_tokens == 12 and output_tokens is None
    assert attributes == {"k": "v"}
    assert echo == tricky


def test_parameters_larger_than_a_url_go_as_a_form(http_store: Store) -> None:
    # clickhouse-connect sends bound parameters as multipart/form-data once they pass 4 KB (an
    # export page's trajectory ids and message hashes do).
    http_store.insert_json_rows("spans", [_span(f"s{i}", TraceId=f"trace-{i}") for i in range(3)])
    wanted = [f"trace-{i}" for i in range(0, 2000, 2)]  # ~11 KB of parameters
    result = http_store.query(
        "SELECT SpanId FROM spans WHERE Tenant = {tenant:String} AND TraceId IN {traces:Array(String)} "
        "ORDER BY SpanId",
        {"tenant": "acme", "traces": wanted},
    )
    assert [row[0] for row in result.rows] == ["s0", "s2"]


def test_query_raw_returns_clickhouse_bytes(http_store: Store) -> None:
    raw = http_store.query_raw(
        "SELECT Version, Name FROM schema_migrations FINAL WHERE Version >= {v:UInt32} ORDER BY Version",
        fmt="JSONEachRow",
        params={"v": 2},
    )
    assert isinstance(raw, bytes)
    assert [json.loads(line) for line in raw.splitlines()] == [
        {"Version": m.version, "Name": m.name} for m in available_migrations() if m.version >= 2
    ]


def test_a_bad_statement_raises_store_error_with_one_line(http_store: Store) -> None:
    with pytest.raises(StoreError) as info:
        http_store.query("SELECT *\nFROM no_such_table")
    message = str(info.value)
    assert "\n" not in message and "no_such_table" in message and "Code: 60" in message
    assert info.value.hint == "query: SELECT * FROM no_such_table"
    with pytest.raises(StoreError, match=r"^insert into no_such_table failed: .*Code: 60") as info:
        http_store.insert_json_rows("no_such_table", [{"a": 1}])
    assert "\n" not in str(info.value)


def test_an_unreachable_server_fails_fast_and_says_where() -> None:
    with socket.socket() as sock:  # a port nobody listens on once this socket is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(StoreError) as info:
        Store.open(f"http://127.0.0.1:{port}", database="t_unreachable")
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert message.startswith(f"cannot reach ClickHouse at 127.0.0.1:{port}: ")
    assert info.value.hint and f"127.0.0.1:{port}" in info.value.hint
    assert "Connection refused" in message and "\n" not in message


@pytest.mark.parametrize("compression", ["lz4", "zstd", "gzip"])
def test_compressed_native_inserts_of_the_client_library(
    http_store: Store, clickhouse_server_url: str, compression: str
) -> None:
    """Store's own inserts are uncompressed JSON, but the client library compresses Native inserts
    (lz4 by default): the server under test must take those too."""
    if compression not in available_compression:
        pytest.skip(f"clickhouse-connect has no {compression} support here")
    url = urlsplit(clickhouse_server_url)
    client = clickhouse_connect.get_client(
        host=url.hostname,
        port=url.port,
        username=url.username or "default",
        password=url.password or "",
        database=http_store.database,
        compress=compression,
    )
    try:
        rows = [[f"s{i}", datetime(2024, 1, 1, 0, 0, i), i] for i in range(50)]
        client.insert("spans", rows, column_names=["SpanId", "Timestamp", "InputTokens"])
    finally:
        client.close()
    assert http_store.query("SELECT count(), sum(InputTokens) FROM spans").rows == [[50, sum(range(50))]]


@pytest.mark.parametrize("url", ["http://127.0.0.1:abc", "http://127.0.0.1:99999"])
def test_a_malformed_port_is_a_store_error(url: str) -> None:
    with pytest.raises(StoreError, match="port"):
        Store.open(url, database="t_bad_port")
