"""A ClickHouse server for the store's http:// path: the real one named by
TRAJOTEL_TEST_CLICKHOUSE_URL, or else the chdb-backed test double in tests/support (no modern
ClickHouse server can be installed everywhere the tests run)."""

from __future__ import annotations

import http.client
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

URL_ENV = "TRAJOTEL_TEST_CLICKHOUSE_URL"
SHIM = Path(__file__).resolve().parents[1] / "support" / "clickhouse_http_shim.py"
START_TIMEOUT_S = 60.0  # a cold chdb start on a loaded CI machine takes seconds, not minutes


@pytest.fixture(scope="session")
def clickhouse_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``http://host:port`` of a ClickHouse HTTP interface, for ``Store.open``."""
    configured = os.environ.get(URL_ENV)
    if configured:
        yield configured.rstrip("/")
        return
    workdir = tmp_path_factory.mktemp("clickhouse_http_shim")
    stdout, stderr = workdir / "stdout.log", workdir / "stderr.log"
    # Files, not pipes: nobody reads a pipe after start-up, and a full one would block the server.
    with stdout.open("wb") as out, stderr.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, str(SHIM), "--path", str(workdir / "data"), "--port", "0"],
            stdout=out,
            stderr=err,
        )
    try:
        yield _wait_until_serving(proc, stdout, stderr)
    finally:
        proc.terminate()  # SIGTERM: the shim closes chdb cleanly
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_until_serving(proc: subprocess.Popen[bytes], stdout: Path, stderr: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT_S
    url = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"the ClickHouse HTTP shim exited with {proc.returncode}:\n{stderr.read_text()[-4000:]}"
            )
        if url is None:
            found = re.search(r"listening on (http://\S+)", stdout.read_text())
            url = found.group(1) if found else None
        if url is not None and _pings(url):
            return url
        time.sleep(0.05)
    raise RuntimeError(
        f"the ClickHouse HTTP shim did not answer /ping within {START_TIMEOUT_S:.0f}s "
        f"(url {url}):\n{stderr.read_text()[-4000:]}"
    )


def _pings(url: str) -> bool:
    # http.client rather than urllib: urllib would honour an http_proxy variable for 127.0.0.1.
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=2)
    try:
        conn.request("GET", "/ping")
        response = conn.getresponse()
        return response.status == 200 and response.read() == b"Ok.\n"
    except OSError:
        return False
    finally:
        conn.close()
