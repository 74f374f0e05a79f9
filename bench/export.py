"""Export benchmark (issue 6 item 7): trajectories/s exported per format from the embedded store,
and the export process's peak RSS for a large store, embedded or behind ClickHouse's HTTP interface.

    .venv/bin/python bench/export.py [--trajectories 10000] [--rss-trajectories 100000]
                                     [--formats trajotel,openai-sft,...] [--turns 4] [--json OUT]
                                     [--rss-stores embedded,server] [--sample-every 10000]

1. Stores: generated agent runs (tests/export/synthetic.py: ``turns`` model calls with tool calls,
   reasoning, tool results, feedback; every field set) written with ``write_trajectories`` in
   batches of 2,000, as the assembler writes them: one store of ``--trajectories`` for
   throughput, one of ``--rss-trajectories`` for memory.
2. Each export runs in a fresh child process (chdb holds one store per process, and each run gets
   its own peak RSS): ``trajotel.export.run.export`` from the opened store to a temporary
   directory. A sampler thread reads /proc/self/status every 20 ms: peak VmRSS (everything,
   including chdb's mapped engine) and peak RssAnon (the process's own heap: Python and the
   engine's working memory), next to the same numbers right after the store was opened, and the
   current VmRSS / RssAnon every ``--sample-every`` trajectories exported (the export's progress
   callback, once per page), to show whether memory grows with the number exported.
3. ``--rss-stores server`` measures the same exports of the large store with the store behind
   HTTP: for each format a fresh tests/support/clickhouse_http_shim.py (ClickHouse's HTTP
   interface served from chdb: a test double standing in for a ClickHouse server, which cannot be
   installed here) on the same data directory, in its own process, and the export child opened
   with ``Store.open("http://127.0.0.1:PORT")`` (clickhouse-connect over HTTP; no chdb in the
   child). The child's numbers are the client's alone; the server's peak VmRSS (VmHWM) and
   sampled RssAnon are reported next to them, sampled by the child at the same moments.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

DEFAULT_FORMATS = "trajotel,openai-sft,openai-dpo,openai-rft,trl-sft,trl-dpo,trl-kto,trl-grpo,art,sharegpt"


SHIM = ROOT / "tests" / "support" / "clickhouse_http_shim.py"
SHIM_START_TIMEOUT_S = 120.0


def _status(pid: int | str = "self") -> dict[str, int]:
    """VmRSS, RssAnon and VmHWM (peak VmRSS so far) of a process, in MiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return {key: int(fields[key].split()[0]) // 1024 for key in ("VmRSS", "RssAnon", "VmHWM")}


def _peaks(peak: dict[str, int], now: dict[str, int]) -> dict[str, int]:
    return {k: max(v, now[k]) for k, v in peak.items()}


class Sampler(threading.Thread):
    """Peak VmRSS / RssAnon of this process (and of the server process, when there is one)."""

    def __init__(self, server_pid: int | None = None) -> None:
        super().__init__(daemon=True)
        self.server_pid = server_pid
        self.peak = _status()
        self.server_peak = _status(server_pid) if server_pid else None
        self.done = threading.Event()

    def sample(self) -> None:
        self.peak = _peaks(self.peak, _status())
        if self.server_pid and self.server_peak is not None:
            self.server_peak = _peaks(self.server_peak, _status(self.server_pid))

    def run(self) -> None:
        while not self.done.wait(0.02):
            self.sample()


def build(path: Path, n: int, turns: int) -> float:
    from trajotel.store import Store
    from trajotel.store.feedback import write_feedback
    from trajotel.store.trajectories import write_trajectories

    from tests.export.synthetic import trajectories

    store = Store.open(f"chdb://{path}")
    started = time.perf_counter()
    for start in range(0, n, 2000):
        batch = list(trajectories(min(2000, n - start), start=start, turns=turns, full=True))
        write_trajectories(store, [(t, "bench") for t in batch], set())
        write_feedback(store, "default", [f for t in batch for f in t.feedback])
    seconds = time.perf_counter() - started
    store.close()
    return seconds


def child(store_url: str, fmt: str, out: str, page_size: int, every: int, server_pid: int) -> dict[str, Any]:
    from trajotel.export.run import ExportSettings, export
    from trajotel.store import Store

    store = Store.open(store_url)
    opened = _status()
    server_opened = _status(server_pid) if server_pid else None
    sampler = Sampler(server_pid or None)
    sampler.start()
    samples: list[dict[str, int]] = []

    def progress(done: int, total: int) -> None:  # once per page
        if every and done // every > len(samples):
            sampler.sample()
            now = _status()
            sample = {"exported": done, "rss_mib": now["VmRSS"], "anon_mib": now["RssAnon"]}
            if server_pid:
                server = _status(server_pid)
                sample.update(server_rss_mib=server["VmRSS"], server_anon_mib=server["RssAnon"])
            samples.append(sample)

    started = time.perf_counter()
    manifest = export(
        store, {"format": fmt, "out": out}, ExportSettings(page_size=page_size), progress=progress
    )
    seconds = time.perf_counter() - started
    sampler.done.set()
    sampler.join()
    sampler.sample()
    store.close()
    counts = manifest["counts"]
    result: dict[str, Any] = {
        "format": fmt,
        "store": "server" if server_pid else "embedded",
        "trajectories": counts["trajectories"],
        "records": counts["records"],
        "bytes": sum(f["bytes"] for f in manifest["files"]),
        "seconds": round(seconds, 2),
        "trajectories_per_s": round(counts["trajectories"] / seconds, 1),
        "rss_after_open_mib": opened["VmRSS"],
        "anon_after_open_mib": opened["RssAnon"],
        "peak_rss_mib": max(sampler.peak["VmRSS"], sampler.peak["VmHWM"]),
        "peak_anon_mib": sampler.peak["RssAnon"],
    }
    if server_opened is not None and sampler.server_peak is not None:
        result.update(
            server_rss_before_export_mib=server_opened["VmRSS"],
            server_anon_before_export_mib=server_opened["RssAnon"],
            # VmHWM: the server's peak over its life (it was started for this export alone)
            server_peak_rss_mib=max(sampler.server_peak["VmRSS"], sampler.server_peak["VmHWM"]),
            server_peak_anon_mib=sampler.server_peak["RssAnon"],
        )
    result["samples"] = samples
    return result


def run_child(
    store_url: str, fmt: str, workdir: Path, page_size: int, every: int, server_pid: int = 0
) -> dict[str, Any]:
    out = workdir / f"{fmt}.out"
    argv = [store_url, fmt, str(out), str(page_size), str(every), str(server_pid)]
    done = subprocess.run([sys.executable, __file__, "--child", *argv], capture_output=True, text=True)
    for written in workdir.glob(f"{fmt}.*"):  # the export and its manifest: not needed any more
        written.unlink()
    if done.returncode != 0:
        return {"format": fmt, "error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


class ShimServer:
    """tests/support/clickhouse_http_shim.py serving ``path`` in its own
    process."""

    def __init__(self, path: Path, workdir: Path) -> None:
        self.stdout, self.stderr = workdir / "shim.stdout", workdir / "shim.stderr"
        # Files, not pipes: nobody reads a pipe while the export runs, and a full one would block it.
        with self.stdout.open("wb") as out, self.stderr.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(SHIM), "--path", str(path), "--port", "0"], stdout=out, stderr=err
            )
        self.url = self._wait()

    def _wait(self) -> str:
        deadline = time.monotonic() + SHIM_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"the shim exited with {self.proc.returncode}: {self.stderr.read_text()[-2000:]}"
                )
            found = re.search(r"listening on (http://\S+)", self.stdout.read_text())
            if found and _pings(found.group(1)):
                return found.group(1)
            time.sleep(0.05)
        raise RuntimeError(f"the shim did not answer within {SHIM_START_TIMEOUT_S:.0f}s")

    def stop(self) -> None:
        self.proc.terminate()  # SIGTERM: the shim closes chdb cleanly, releasing the directory
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _pings(url: str) -> bool:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=2)
    try:
        conn.request("GET", "/ping")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def run_server_child(store: Path, fmt: str, workdir: Path, page_size: int, every: int) -> dict[str, Any]:
    server = ShimServer(store, workdir)
    try:
        return run_child(server.url, fmt, workdir, page_size, every, server.proc.pid)
    finally:
        server.stop()


def summary(result: dict[str, Any]) -> str:
    """One memory result as text: peaks, then RSS at each sample (MiB)."""
    if "error" in result:
        return f"{result['format']}: {result['error']}"
    lines = [
        f"{result['store']} {result['format']}: {result['trajectories']:,} in {result['seconds']} s; "
        f"export process peak RSS {result['peak_rss_mib']} MiB (anonymous {result['peak_anon_mib']}), "
        f"{result['rss_after_open_mib']} after opening the store"
    ]
    if "server_peak_rss_mib" in result:
        lines[0] += (
            f"; server peak RSS {result['server_peak_rss_mib']} MiB (anonymous "
            f"{result['server_peak_anon_mib']}), {result['server_rss_before_export_mib']} before the export"
        )
    for key, name in (("rss_mib", "RSS"), ("server_rss_mib", "server RSS")):
        if result["samples"] and key in result["samples"][0]:
            values = ", ".join(str(sample[key]) for sample in result["samples"])
            lines.append(f"  {name} every {result['samples'][0]['exported']:,}: {values}")
    return "\n".join(lines)


def main() -> int:
    if sys.argv[1:2] == ["--child"]:
        store_url, fmt, out, page_size, every, server_pid = sys.argv[2:8]
        print(json.dumps(child(store_url, fmt, out, int(page_size), int(every), int(server_pid))))
        return 0
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trajectories", type=int, default=10_000)
    parser.add_argument("--rss-trajectories", type=int, default=100_000)
    parser.add_argument("--rss-formats", default="trajotel,openai-sft")
    parser.add_argument(
        "--rss-stores",
        default="embedded",
        help="embedded, server (the store behind HTTP, served by the test shim), or both: embedded,server",
    )
    parser.add_argument("--sample-every", type=int, default=10_000, help="trajectories between RSS samples")
    parser.add_argument("--formats", default=DEFAULT_FORMATS)
    parser.add_argument("--turns", type=int, default=4)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args()

    stores = args.rss_stores.split(",")
    if unknown := set(stores) - {"embedded", "server"}:
        parser.error(f"unknown --rss-stores {', '.join(sorted(unknown))}")
    results: dict[str, Any] = {
        "machine": f"{platform.machine()} {platform.processor() or ''} python {platform.python_version()}",
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg(),
        "turns": args.turns,
        "page_size": args.page_size,
    }
    with tempfile.TemporaryDirectory(prefix="trajotel-bench-export-") as tmp:
        work = Path(tmp)
        results["throughput"] = []
        if args.formats:  # --formats "" measures memory alone
            small = work / "store-small"
            print(f"writing {args.trajectories:,} trajectories ...", file=sys.stderr, flush=True)
            results["write_small_s"] = round(build(small, args.trajectories, args.turns), 1)
            for fmt in args.formats.split(","):
                result = run_child(f"chdb://{small}", fmt, work, args.page_size, 0)
                print(json.dumps(result), file=sys.stderr, flush=True)
                results["throughput"].append(result)
        if args.rss_trajectories:
            large = work / "store-large"
            print(f"writing {args.rss_trajectories:,} trajectories ...", file=sys.stderr, flush=True)
            results["write_large_s"] = round(build(large, args.rss_trajectories, args.turns), 1)
            results["memory"] = []
            for kind in stores:
                for fmt in args.rss_formats.split(","):
                    if kind == "server":
                        result = run_server_child(large, fmt, work, args.page_size, args.sample_every)
                    else:
                        result = run_child(f"chdb://{large}", fmt, work, args.page_size, args.sample_every)
                    result["load_after"] = os.getloadavg()
                    print(json.dumps(result), file=sys.stderr, flush=True)
                    results["memory"].append(result)
    for result in results.get("memory", []):
        print(summary(result), file=sys.stderr)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
