"""A TEST DOUBLE, not a product: just enough of ClickHouse's HTTP interface, served by the
embedded chdb engine, for the stock clickhouse-connect HTTP client to drive trajotel's store over
``http://`` on machines where no modern ClickHouse server can be installed.

    python tests/support/clickhouse_http_shim.py --path DIR --port 0

prints ``listening on http://127.0.0.1:PORT`` and serves until SIGTERM/SIGINT.

Supported: ``GET /ping``; the query from the ``query`` URL parameter followed by the request body
(ClickHouse's own rule, so ``INSERT ... FORMAT X`` in the URL with the data in the body works);
``database``, ``default_format``, ``param_<name>`` (server-side ``{name:Type}`` parameters) and any
real ClickHouse setting as URL parameters; chunked bodies; gzip/deflate/lz4/zstd request bodies;
``X-ClickHouse-*`` response headers; errors as HTTP 500 with ``Code: N. DB::Exception: ...``;
a multipart/form-data body whose fields are URL parameters (clickhouse-connect sends bound
parameters that way once they pass 4 KB, as ClickHouse accepts).

Not supported, on purpose: authentication (any user is accepted), sessions (all requests share one
engine session, so a client's own ``SET`` statements outlive the request), response compression
(replies are identity-encoded, which every client accepts), external data (form parts that are
files), progress headers, ClickHouse's native block compression (``compress=1``).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import signal
import threading
import time
import uuid
import zlib
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

lz4_frame: ModuleType | None
try:  # clickhouse-connect compresses inserts with lz4 whenever the package is installed
    import lz4.frame as lz4_frame
except ImportError:
    lz4_frame = None
zstd: ModuleType | None
try:  # ... and with zstd when lz4 is absent (stdlib from Python 3.14, a backport before)
    from compression import zstd  # type: ignore[import-not-found, no-redef]
except ImportError:
    try:
        from backports import zstd
    except ImportError:
        zstd = None

DISPLAY_NAME = "chdb-http-shim"
# URL parameters the HTTP interface consumes itself; every other one is a setting for the query.
HTTP_ONLY = (
    frozenset({"query", "database", "default_format", "user", "password", "quota_key", "role"})
    | {"query_id", "session_id", "session_timeout", "session_check", "compress", "decompress", "buffer_size"}
    | {"wait_end_of_query", "client_protocol_version", "stacktrace"}
)
# Statements with a result set report X-ClickHouse-Format even when the result is empty;
# clickhouse-connect's command() tells "" from "no result" by that header.
RESULT_KINDS = frozenset({"SELECT", "WITH", "SHOW", "DESC", "DESCRIBE", "EXISTS", "EXPLAIN", "CHECK"})
_FIRST_WORD = re.compile(rb"(?:\s+|--[^\n]*\n|/\*.*?\*/)*\(*\s*([A-Za-z]+)", re.S)
_FORMAT = re.compile(rb"\bFORMAT\s+([A-Za-z0-9_]+)", re.I)
_CODE = re.compile(r"Code: (\d+)\.")
_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ShimError(Exception):
    """An error the shim raises itself, rendered like a ClickHouse exception."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"Code: {code}. DB::Exception: {message}")


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class Engine:
    """The process's one chdb session (chdb allows one engine per process); requests take turns."""

    def __init__(self, path: str) -> None:
        import chdb  # here, not at the top: chdb fixes its timezone from TZ when first imported

        self._conn = chdb.connect(f"file:{path}")
        self._lock = threading.Lock()
        self._database = ""
        self._applied: dict[str, str] = {}  # settings this shim has SET on the session
        self.version = self._conn.query("SELECT version()", "TabSeparated").bytes().decode().strip()

    def execute(
        self, sql: bytes, database: str, settings: dict[str, str], params: dict[str, str], fmt: str
    ) -> Any:
        with self._lock:
            if database != self._database:
                self._conn.query(f"USE `{database.replace('`', '``')}`", "TabSeparated")
                self._database = database
            self._sync_settings(settings)
            result = self._conn.query(sql, fmt, params=params)
            if _kind(sql) == "USE":  # the client moved the session itself: re-USE next time
                self._database = ""
            return result

    def _sync_settings(self, wanted: dict[str, str]) -> None:
        # chdb's query() has no per-query settings and a SETTINGS clause is not valid on every
        # statement, so URL settings become session settings. Only the difference from what the
        # previous request left is sent: clickhouse-connect repeats the same ones on every request.
        for name in [n for n in self._applied if n not in wanted]:
            self._conn.query(f"SET {name} = DEFAULT", "TabSeparated")
            del self._applied[name]
        for name, value in wanted.items():
            if self._applied.get(name) == value:
                continue
            if not _SETTING_NAME.match(name):
                raise ShimError(115, f"Unknown setting '{name}'. (UNKNOWN_SETTING)")
            # Quoted always: ClickHouse converts a string literal to the setting's own type.
            self._conn.query(f"SET {name} = {_quote(value)}", "TabSeparated")
            self._applied[name] = value

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _kind(sql: bytes) -> str:
    match = _FIRST_WORD.match(sql[:4096])
    return match.group(1).decode().upper() if match else ""


def _decode(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    try:
        if encoding in ("", "identity"):
            return body
        if encoding == "gzip":
            return gzip.decompress(body)
        if encoding == "deflate":
            return zlib.decompress(body)
        if encoding == "lz4" and lz4_frame is not None:
            # clickhouse-connect sends one LZ4 frame per block, and lz4.frame.decompress() would
            # silently stop after the first: decode frame after frame.
            parts = []
            while body:
                decompressor = lz4_frame.LZ4FrameDecompressor()
                parts.append(decompressor.decompress(body))
                body = decompressor.unused_data
            return b"".join(parts)
        if encoding == "zstd" and zstd is not None:
            return zstd.decompress(body)
    except Exception as exc:
        reason = f"Cannot decompress the {encoding} request body: {exc}. (CANNOT_DECOMPRESS)"
        raise ShimError(271, reason) from exc
    raise ShimError(36, f"Unknown HTTP Content-Encoding '{encoding}'. (BAD_ARGUMENTS)")


def _form_fields(content_type: str, body: bytes) -> dict[str, str]:
    """The fields of a multipart/form-data body, by name (each one stands for a URL parameter)."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    fields = {}
    for part in BytesParser().parsebytes(head + body).get_payload():
        payload = part.get_payload(decode=True)
        fields[part.get_param("name", header="content-disposition")] = payload.decode()
    return fields


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], engine: Engine) -> None:
        super().__init__(address, Handler)
        self.engine = engine


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clickhouse-connect pools its connections
    server: Server

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request would drown the test logs; errors are in the replies

    def _read_body(self) -> bytes:
        if "chunked" not in self.headers.get("Transfer-Encoding", "").lower():
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        chunks = []
        while size := int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16):
            chunks.append(self.rfile.read(size))
            self.rfile.readline()  # the CRLF closing the chunk
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return b"".join(chunks)

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        body = self._read_body()  # always, so the kept-alive connection stays in step
        if url.path == "/ping":
            self._reply(200, b"Ok.\n", {"Content-Type": "text/plain; charset=UTF-8"})
            return
        args = dict(parse_qsl(url.query, keep_blank_values=True))
        headers = {
            "X-ClickHouse-Query-Id": args.get("query_id") or str(uuid.uuid4()),
            "X-ClickHouse-Server-Display-Name": DISPLAY_NAME,
            "X-ClickHouse-Timezone": "UTC",
        }
        try:
            body = _decode(body, self.headers.get("Content-Encoding", ""))
            content_type = self.headers.get("Content-Type", "")
            if content_type.lower().startswith("multipart/form-data"):
                args.update(_form_fields(content_type, body))
                body = b""
            # ClickHouse runs the URL query, a newline, then the body as one statement.
            query = args.get("query", "").encode()
            sql = query + b"\n" + body if query and body else query or body
            if not sql.strip():
                raise ShimError(62, "Empty query. (SYNTAX_ERROR)")
            fmt = args.get("default_format") or "TabSeparated"
            params = {k[6:]: v for k, v in args.items() if k.startswith("param_")}
            settings = {k: v for k, v in args.items() if k not in HTTP_ONLY and not k.startswith("param_")}
            result = self.server.engine.execute(sql, args.get("database") or "default", settings, params, fmt)
        except Exception as exc:
            text = str(exc).strip() or type(exc).__name__
            code = _CODE.search(text)
            if not code:
                text = f"Code: 1001. DB::Exception: {text}. (STD_EXCEPTION)"
            headers["X-ClickHouse-Exception-Code"] = code.group(1) if code else "1001"
            headers["Content-Type"] = "text/plain; charset=UTF-8"
            self._reply(500, f"{text} (version {self.server.engine.version})\n".encode(), headers)
            return
        data = result.bytes() or b""
        if _kind(sql) in RESULT_KINDS or data:
            named = _FORMAT.findall(sql)
            headers["X-ClickHouse-Format"] = named[-1].decode() if named else fmt
        headers["Content-Type"] = "application/octet-stream"
        headers["X-ClickHouse-Summary"] = json.dumps(
            {
                "read_rows": str(result.rows_read()),
                "read_bytes": str(result.bytes_read()),
                "written_rows": str(result.rows_written()),
                "written_bytes": str(result.bytes_written()),
                "total_rows_to_read": "0",
                "result_bytes": str(len(data)),
                "elapsed_ns": str(int(result.elapsed() * 1e9)),
            },
            separators=(",", ":"),
        )
        self._reply(200, data, headers)

    def _reply(self, status: int, data: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="ClickHouse HTTP interface over chdb (tests only)")
    parser.add_argument("--path", required=True, help="chdb data directory")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    # The X-ClickHouse-Timezone header promises UTC, as a server run for tests usually is; chdb
    # reads TZ when it is imported, which Engine() does.
    os.environ["TZ"] = "UTC"
    time.tzset()
    os.makedirs(args.path, exist_ok=True)
    engine = Engine(os.path.abspath(args.path))
    server = Server((args.host, args.port), engine)

    def stop(signum: int, frame: object) -> None:
        # shutdown() waits for serve_forever(), which runs on this very thread: call it elsewhere.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"listening on http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        engine.close()  # flush and release the store directory before exiting


if __name__ == "__main__":
    main()
