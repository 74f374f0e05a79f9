"""Export benchmark (issue 6 item 7): trajectories/s exported per format from the embedded store,
and the export process's peak RSS for a large store.

    .venv/bin/python bench/export.py [--trajectories 10000] [--rss-trajectories 100000]
                                     [--formats trajotel,openai-sft,...] [--turns 4] [--json OUT]

1. Stores: generated agent runs (tests/export/synthetic.py: ``turns`` model calls with tool calls,
   reasoning, tool results, feedback; every field set) written with ``write_trajectories`` in
   batches of 2,000, as the assembler writes them: one store of ``--trajectories`` for
   throughput, one of ``--rss-trajectories`` for memory.
2. Each export runs in a fresh child process (chdb holds one store per process, and each run gets
   its own peak RSS): ``trajotel.export.run.export`` from the opened store to a temporary
   directory. A sampler thread reads /proc/self/status every 20 ms: peak VmRSS (everything,
   including chdb's mapped engine) and peak RssAnon (the process's own heap: Python and the
   engine's working memory), next to the same numbers right after the store was opened.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

DEFAULT_FORMATS = "trajotel,openai-sft,openai-dpo,openai-rft,trl-sft,trl-dpo,trl-kto,trl-grpo,art,sharegpt"


def _status() -> dict[str, int]:
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return {key: int(fields[key].split()[0]) // 1024 for key in ("VmRSS", "RssAnon")}  # MiB


class Sampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = _status()
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.02):
            now = _status()
            self.peak = {k: max(v, now[k]) for k, v in self.peak.items()}


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


def child(store_path: str, fmt: str, out: str, page_size: int) -> dict[str, Any]:
    from trajotel.export.run import ExportSettings, export
    from trajotel.store import Store

    store = Store.open(f"chdb://{store_path}")
    opened = _status()
    sampler = Sampler()
    sampler.start()
    started = time.perf_counter()
    manifest = export(store, {"format": fmt, "out": out}, ExportSettings(page_size=page_size))
    seconds = time.perf_counter() - started
    sampler.done.set()
    sampler.join()
    store.close()
    counts = manifest["counts"]
    return {
        "format": fmt,
        "trajectories": counts["trajectories"],
        "records": counts["records"],
        "bytes": sum(f["bytes"] for f in manifest["files"]),
        "seconds": round(seconds, 2),
        "trajectories_per_s": round(counts["trajectories"] / seconds, 1),
        "rss_after_open_mib": opened["VmRSS"],
        "anon_after_open_mib": opened["RssAnon"],
        "peak_rss_mib": sampler.peak["VmRSS"],
        "peak_anon_mib": sampler.peak["RssAnon"],
    }


def run_child(store: Path, fmt: str, workdir: Path, page_size: int) -> dict[str, Any]:
    out = workdir / f"{fmt}.out"
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(store), fmt, str(out), str(page_size)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        return {"format": fmt, "error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    if sys.argv[1:2] == ["--child"]:
        store, fmt, out, page_size = sys.argv[2:6]
        print(json.dumps(child(store, fmt, out, int(page_size))))
        return 0
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trajectories", type=int, default=10_000)
    parser.add_argument("--rss-trajectories", type=int, default=100_000)
    parser.add_argument("--rss-formats", default="trajotel,openai-sft")
    parser.add_argument("--formats", default=DEFAULT_FORMATS)
    parser.add_argument("--turns", type=int, default=4)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args()

    results: dict[str, Any] = {
        "machine": f"{platform.machine()} {platform.processor() or ''} python {platform.python_version()}",
        "turns": args.turns,
        "page_size": args.page_size,
    }
    with tempfile.TemporaryDirectory(prefix="trajotel-bench-export-") as tmp:
        work = Path(tmp)
        small = work / "store-small"
        print(f"writing {args.trajectories:,} trajectories ...", file=sys.stderr, flush=True)
        results["write_small_s"] = round(build(small, args.trajectories, args.turns), 1)
        results["throughput"] = []
        for fmt in args.formats.split(","):
            result = run_child(small, fmt, work, args.page_size)
            print(json.dumps(result), file=sys.stderr, flush=True)
            results["throughput"].append(result)
        if args.rss_trajectories:
            large = work / "store-large"
            print(f"writing {args.rss_trajectories:,} trajectories ...", file=sys.stderr, flush=True)
            results["write_large_s"] = round(build(large, args.rss_trajectories, args.turns), 1)
            results["memory"] = []
            for fmt in args.rss_formats.split(","):
                result = run_child(large, fmt, work, args.page_size)
                print(json.dumps(result), file=sys.stderr, flush=True)
                results["memory"].append(result)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
