"""Open a ClickHouse store through clickhouse-connect: embedded (``chdb://PATH``) or a server
(``http(s)://user:password@host:port``). The same SQL runs on both."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from trajotel.errors import StoreError, StoreLockedError

log = logging.getLogger(__name__)

_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TABLE = _DB_NAME


@dataclass(frozen=True)
class StoreUrl:
    scheme: str  # "chdb" | "http" | "https"
    path: Path | None = None
    host: str = ""
    port: int = 0
    username: str = "default"
    password: str = ""

    @property
    def embedded(self) -> bool:
        return self.scheme == "chdb"

    @classmethod
    def parse(cls, url: str) -> StoreUrl:
        parts = urlsplit(url)
        if parts.scheme == "chdb":
            raw = (parts.netloc + parts.path) or ""
            if not raw or raw == "memory":
                raise StoreError(
                    f"store URL {url!r} has no path",
                    hint="use chdb:///absolute/path/to/store (the embedded store needs a directory)",
                )
            return cls(scheme="chdb", path=Path(raw).expanduser().resolve())
        if parts.scheme in ("http", "https"):
            try:
                port = parts.port
            except ValueError as exc:
                raise StoreError(
                    f"invalid port in store URL {url!r}: {exc}", hint="use http(s)://host:8123"
                ) from None
            return cls(
                scheme=parts.scheme,
                host=parts.hostname or "localhost",
                port=port or (8443 if parts.scheme == "https" else 8123),
                username=unquote(parts.username or "default"),
                password=unquote(parts.password or ""),
            )
        raise StoreError(
            f"unsupported store URL {url!r}",
            hint="use chdb:///path for the embedded store or http(s)://host:8123 for a ClickHouse server",
        )


def _holder_of(path: Path) -> str:
    """ClickHouse writes the holding process's PID into <path>/status."""
    try:
        for line in (path / "status").read_text().splitlines():
            if line.startswith("PID:"):
                return f"process {line.split(':', 1)[1].strip()}"
    except OSError:
        pass
    return "another process"


class _PriorityLock:
    """A reentrant lock that threads marked urgent take before the ordinary threads waiting for it.

    Every store call takes turns on one lock. The collector's ingest and assembly threads mark
    themselves urgent (``Store.prefer_current_thread``): a trajectory's latency is their queries
    one after another, and with the enrichment worker's readers and HTTP requests queued too,
    each of them would wait for all of those. An ordinary thread still gets the lock whenever no
    urgent one is waiting (between an urgent thread's calls), so none starves; a call already
    running is never interrupted."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self._urgent_waiting = 0
        self._local = threading.local()

    def prefer_current_thread(self) -> None:
        self._local.urgent = True

    def acquire(self) -> None:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return
            if getattr(self._local, "urgent", False):
                self._urgent_waiting += 1
                try:
                    while self._owner is not None:
                        self._cond.wait()
                finally:
                    self._urgent_waiting -= 1
            else:
                while self._owner is not None or self._urgent_waiting:
                    self._cond.wait()
            self._owner, self._depth = me, 1

    def release(self) -> None:
        with self._cond:
            if self._owner != threading.get_ident():
                raise RuntimeError("release of a store lock this thread does not hold")
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._cond.notify_all()

    def __enter__(self) -> None:
        self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class Store:
    """The only object that talks to ClickHouse. Thread-safe: calls are serialized (threads
    marked with ``prefer_current_thread`` first)."""

    def __init__(self, client: Client, url: StoreUrl, database: str) -> None:
        self._client = client
        self.url = url
        self.database = database
        self._lock = _PriorityLock()
        self._chdb: Any = None  # a direct chdb handle for fast inserts into the embedded store

    # --- opening ---------------------------------------------------------------
    @classmethod
    def open(cls, url: str, database: str = "trajotel", *, migrate: bool = True) -> Store:
        if not _DB_NAME.match(database):
            raise StoreError(f"invalid database name {database!r}", hint="use letters, digits and _")
        parsed = StoreUrl.parse(url)
        client = _connect(parsed, database="default")
        try:
            client.command(f"CREATE DATABASE IF NOT EXISTS {database}")
        except ClickHouseError as exc:
            raise StoreError(f"cannot create database {database!r} at {url}: {_first_line(exc)}") from exc
        finally:
            client.close()
        client = _connect(parsed, database=database)
        store = cls(client, parsed, database)
        if migrate:
            from trajotel.store.migrations import apply_migrations

            apply_migrations(store)
        return store

    def close(self) -> None:
        with self._lock:
            if self._chdb is not None:
                self._chdb.close()
                self._chdb = None
            try:
                self._client.close()
            except Exception:  # closing must never mask the real error of a caller
                log.debug("closing the store client failed", exc_info=True)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def prefer_current_thread(self) -> None:
        """This thread's calls go before those of unmarked threads waiting for the store (the
        collector's ingest and assembly: what a trajectory's latency is made of)."""
        self._lock.prefer_current_thread()

    # --- statements ------------------------------------------------------------
    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        with self._lock:
            try:
                return self._client.command(sql, parameters=params)
            except ClickHouseError as exc:
                raise StoreError(_first_line(exc), hint=f"statement: {_short(sql)}") from exc

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        with self._lock:
            try:
                result = self._client.query(sql, parameters=params)
            except ClickHouseError as exc:
                raise StoreError(_first_line(exc), hint=f"query: {_short(sql)}") from exc
        return QueryResult(list(result.column_names), [list(r) for r in result.result_rows])

    def query_raw(
        self, sql: str, fmt: str = "TabSeparatedWithNames", params: Mapping[str, Any] | None = None
    ) -> bytes:
        """Run a query and return ClickHouse's own rendering in ``fmt`` (for the CLI and HTTP API)."""
        with self._lock:
            try:
                return self._client.raw_query(sql, parameters=params, fmt=fmt)
            except ClickHouseError as exc:
                raise StoreError(_first_line(exc), hint=f"query: {_short(sql)}") from exc

    def insert_json_rows(
        self, table: str, rows: Iterable[Mapping[str, Any]], dedup_token: str | None = None
    ) -> int:
        """Insert rows as JSONEachRow. With ``dedup_token`` a repeated insert is a no-op."""
        body = encode_json_rows(rows)
        if not body:
            return 0
        self.insert_json_lines(table, body, dedup_token)
        return body.count(b"\n") + 1

    def insert_json_lines(self, table: str, body: bytes, dedup_token: str | None = None) -> None:
        if not _TABLE.match(table):
            raise StoreError(f"invalid table name {table!r}")
        with self._lock:
            try:
                if self.url.embedded:
                    self._embedded_insert(table, body, dedup_token)
                else:
                    settings = {"insert_deduplication_token": dedup_token} if dedup_token else None
                    self._client.raw_insert(table, None, body, settings=settings, fmt="JSONEachRow")
            except (ClickHouseError, RuntimeError) as exc:
                raise StoreError(f"insert into {table} failed: {_first_line(exc)}") from exc

    def _embedded_insert(self, table: str, body: bytes, dedup_token: str | None) -> None:
        """chdb's streaming insert: about twice as fast as clickhouse-connect's chdb backend,
        which stages every insert in a temporary file. Same engine, same table."""
        if self._chdb is None:
            import chdb

            self._chdb = chdb.connect(f"file:{self.url.path}")
        settings = ""
        if dedup_token:
            escaped = dedup_token.replace("\\", "\\\\").replace("'", "\\'")
            settings = f" SETTINGS insert_deduplication_token = '{escaped}'"
        inserter = self._chdb.send_insert(f"INSERT INTO {self.database}.{table}{settings}", "JSONEachRow")
        try:
            inserter.append(body)
        except BaseException:
            inserter.cancel()
            raise
        inserter.finish()


_ROW_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode_json_rows(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """JSONEachRow text. Empty values (None, "", [], {}) are left out: the column default is the
    same value, and ingest rows are mostly empty optional columns."""
    encode = _ROW_ENCODER.encode
    return "\n".join(encode({k: v for k, v in row.items() if v or v == 0}) for row in rows).encode()


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[list[Any]]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]


def _connect(url: StoreUrl, database: str) -> Client:
    try:
        if url.embedded:
            assert url.path is not None
            url.path.mkdir(parents=True, exist_ok=True)
            return clickhouse_connect.get_client(dsn=f"chdb://{url.path}", database=database)
        return clickhouse_connect.get_client(
            host=url.host,
            port=url.port,
            username=url.username,
            password=url.password,
            secure=url.scheme == "https",
            database=database,
        )
    except Exception as exc:
        text = str(exc)
        if (
            url.embedded
            and url.path is not None
            and ("Cannot lock file" in text or "Error initializing EmbeddedServer" in text)
        ):
            raise StoreLockedError(
                f"the embedded store {url.path} is held by {_holder_of(url.path)}",
                hint="a running collector owns it: query through it with `trajotel query --data DIR ...`, "
                "or stop it first",
            ) from None
        if url.embedded and "already initialized with path" in text:
            raise StoreError(
                f"this process already has another embedded store open; cannot open {url.path}",
                hint="chdb allows one store directory per process: close the other store first",
            ) from None
        if url.embedded:
            raise StoreError(f"cannot open the embedded store at {url.path}: {_first_line(exc)}") from None
        # urllib3 wraps the cause in a long retry message: keep the operating system's reason.
        found = re.search(r"\[Errno \d+\] [^'\")]+", text)
        reason = found.group(0) if found else _first_line(exc)
        raise StoreError(
            f"cannot reach ClickHouse at {url.host}:{url.port}: {reason}",
            hint=f"is a ClickHouse server listening on {url.scheme}://{url.host}:{url.port}?",
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _short(sql: str, limit: int = 160) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
