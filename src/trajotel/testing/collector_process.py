"""Run a real ``trajotel collector`` as a child process (tests, the quickstart, benchmarks)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class CollectorProcess:
    """``trajotel collector --data DIR`` on free ports; ``env`` adds TRAJOTEL_* settings, ``args``
    more command-line options (e.g. ``["--config", FILE]``)."""

    def __init__(
        self,
        data_dir: Path,
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
        args: Sequence[str] = (),
    ) -> None:
        self.data_dir = Path(data_dir)
        self.env = env or {}
        self.args = list(args)
        self.log_path = log_path or self.data_dir.parent / f"{self.data_dir.name}-collector.log"
        self.grpc_port = free_port()
        self.http_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def http_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"

    def start(self, timeout_s: float = 60.0) -> CollectorProcess:
        cmd = [
            sys.executable,
            "-m",
            "trajotel",
            "collector",
            "--data",
            str(self.data_dir),
            "--grpc-port",
            str(self.grpc_port),
            "--http-port",
            str(self.http_port),
            *self.args,
        ]
        env = {**os.environ, **self.env}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 (owned by the child for its lifetime)
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"collector exited with {self.proc.returncode}:\n{self.log()}")
            if (self.data_dir / "collector.json").exists() and self._healthy():
                return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"collector did not become ready in {timeout_s} s:\n{self.log()}")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.http_endpoint + "/healthz", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def api(self, method: str, path: str, body: Any = None, timeout_s: float = 30.0) -> bytes:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.http_endpoint + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.read()

    def query(self, sql: str) -> list[dict[str, Any]]:
        raw = self.api("POST", "/v1/query", {"sql": sql, "format": "JSONEachRow"})
        return [json.loads(line) for line in raw.splitlines() if line.strip()]

    def stop(self, timeout_s: float = 60.0) -> int:
        """SIGTERM and wait: the collector stores what it accepted and exits."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError(f"collector did not stop within {timeout_s} s:\n{self.log()}") from None

    def kill(self) -> None:
        """SIGKILL: no chance to flush anything (crash simulation)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> CollectorProcess:
        return self if self.proc is not None and self.proc.poll() is None else self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.stop()
