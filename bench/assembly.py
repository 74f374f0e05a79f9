"""Assembly passes in isolation (issue 4, item 8): the same agent runs replayed through the
collector's in-process pipeline (spool -> store writer -> assembly worker, on a fresh embedded
store), with the same passes every time, so two builds or two settings compare without the noise
of a live collector's threads, clock and HTTP.

    .venv/bin/python bench/assembly.py --runs 3000 --rounds 3
    git archive HEAD src | tar -x -C /tmp/before        # two builds side by side:
    .venv/bin/python bench/assembly.py --build before=/tmp/before/src --build after=src \
        --settings collector --refresh-s 0

Workload: bench/latency.py's runs (6 model calls, 80 % under an invoke_agent root, 20 % flat
loops), 50 runs per OTLP request; a pass after every request, taking every trace whose spans
are all there (every fourth pass also finishes them), then passes until nothing is pending. Each
round runs every garbage-collector setting once, alternating the order: ``default`` (Python's)
and ``collector`` (what ``trajotel collector`` sets after start-up: ``settle_garbage_collector``).
Reported per setting: median over the rounds of the passes' thread CPU and wall time, the time
spent in garbage collection (the whole replay), and the wall time per trajectory version.

``--build NAME=SRC`` (repeated) replays each build (a ``src`` directory put first on the
``PYTHONPATH`` of the replaying child) in every round, alternating the order, so two builds
compare side by side. ``--refresh-s 0`` rebuilds every running trajectory at every pass, as a
loaded collector does (a run gets a running version, then its complete one); the default builds
each trajectory once, complete.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ("default", "collector")


def replay(setting: str, runs: int, seed: int, workdir: Path, refresh_s: float = 1e9) -> dict[str, Any]:
    """One replay in this process (run in a child per replay, so each starts from a fresh heap)."""
    # The build first (PYTHONPATH, else the installed src): bench/latency.py puts this tree's
    # src first on sys.path, and the package, once imported, keeps its submodules to its own.
    import trajotel

    sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
    from latency import build_runs
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    from trajotel.collector.service import settle_garbage_collector
    from trajotel.store import Store

    from tests.support.pipeline import InProcessPipeline

    built = build_runs(runs, 6, 0.2, 3.0, seed)
    requests = [encode_spans([s for r in built[i : i + 50] for s in r.spans]) for i in range(0, runs, 50)]
    del built
    store = Store.open(f"chdb://{workdir / 'store'}")
    pipeline = InProcessPipeline(store, workdir / "spool")
    pipeline.worker.refresh_s = refresh_s  # 1e9: each trajectory built once, complete
    if setting == "collector":
        settle_garbage_collector()
    collecting = [0.0, 0.0]  # seconds in collections, start of the current one

    def timed(phase: str, _info: dict) -> None:
        if phase == "start":
            collecting[1] = time.perf_counter()
        else:
            collecting[0] += time.perf_counter() - collecting[1]

    gc.callbacks.append(timed)
    cpu = wall = 0.0

    def one_pass(idle: bool) -> None:
        nonlocal cpu, wall
        c, w = time.thread_time(), time.perf_counter()
        pipeline.assemble(idle=idle)
        cpu += time.thread_time() - c
        wall += time.perf_counter() - w

    for i, request in enumerate(requests):
        pipeline.store_request(request)
        one_pass(idle=i % 4 == 3)
    while pipeline.worker.pending_count():
        one_pass(idle=True)
    gc.callbacks.remove(timed)
    versions = pipeline.worker.assembled
    pipeline.close()
    store.close()
    return {
        "versions": versions,
        "pass_cpu_s": round(cpu, 3),
        "pass_wall_s": round(wall, 3),
        "gc_s": round(collecting[0], 3),
        "ms_per_version": round(1000 * wall / versions, 3),
        "trajotel": str(Path(trajotel.__file__).parent.parent),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3000, help="agent runs replayed (3000)")
    parser.add_argument("--rounds", type=int, default=3, help="replays per setting (3)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--settings", nargs="+", choices=SETTINGS, default=list(SETTINGS), help="GC settings (both)"
    )
    parser.add_argument(
        "--build", action="append", default=[], metavar="NAME=SRC", help="a build's src directory (repeat)"
    )
    parser.add_argument("--refresh-s", type=float, default=1e9, help="the worker's refresh_s (1e9: none)")
    parser.add_argument("--child", choices=SETTINGS, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(replay(args.child, args.runs, args.seed, args.workdir, args.refresh_s)))
        return
    builds = dict(b.split("=", 1) for b in args.build) or {"": ""}
    cases = [(build, setting) for build in builds for setting in args.settings]
    results: dict[str, list[dict[str, float]]] = {_name(*case): [] for case in cases}
    for round_ in range(args.rounds):
        for build, setting in cases if round_ % 2 == 0 else cases[::-1]:
            env = dict(os.environ)
            if builds[build]:
                src = str(Path(builds[build]).resolve())
                env["PYTHONPATH"] = os.pathsep.join(filter(None, (src, env.get("PYTHONPATH"))))
            workdir = Path(tempfile.mkdtemp(prefix="trajotel-bench-assembly-"))
            try:
                done = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        setting,
                        "--workdir",
                        str(workdir),
                        "--runs",
                        str(args.runs),
                        "--seed",
                        str(args.seed),
                        "--refresh-s",
                        str(args.refresh_s),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                    env=env,
                )
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
            name = _name(build, setting)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            source = result.pop("trajotel")
            if builds[build] and Path(source) != Path(builds[build]).resolve():
                raise SystemExit(f"{name}: the replay imported trajotel from {source}")
            results[name].append(result)
            print(name, results[name][-1], flush=True)
    summary = {
        setting: {key: statistics.median(r[key] for r in rows) for key in rows[0]}
        for setting, rows in results.items()
    }
    print(json.dumps({"median": summary}, indent=2))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "runs": args.runs,
                    "refresh_s": args.refresh_s,
                    "builds": builds,
                    "results": results,
                    "median": summary,
                },
                indent=2,
            )
        )


def _name(build: str, setting: str) -> str:
    return f"{build}/{setting}" if build else setting


if __name__ == "__main__":
    main()
