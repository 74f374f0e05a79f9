#!/usr/bin/env python
"""Latency benchmark (issue 4, item 8): from an agent run's last span reaching the collector to its
trajectory being queryable, at a sustained span rate.

    .venv/bin/python bench/latency.py [--rate SPANS_PER_S] [--duration S] [--flat-share F]
                                      [--exporters K] [--export-delay S] [--json OUT]
                                      [--profile [--profile-raw STACKS]]

A real ``trajotel collector`` runs as a subprocess on a fresh embedded store (or ``--clickhouse
URL``) with its default settings (``--collector-env`` overrides them). The workload is built up
front with the OpenTelemetry SDK: agent runs of an ``invoke_agent`` root, ``--turns`` chat spans
(the whole GenAI history in each) and tool spans; a ``--flat-share`` of them are flat loops with no
root, one trace per model call, threaded by history. Runs start at a steady pace so that spans end
at ``--rate`` per second; each run lasts ``--run-seconds``. ``--exporters`` sender processes (not
threads of this process: encoding and HTTP must not share a GIL with the prober) each play a
``BatchSpanProcessor``: a request (OTLP/HTTP protobuf) as soon as ``--export-batch`` spans are
waiting, else every ``--export-delay`` seconds (the SDK's defaults: 512 spans, 5 s).

Clocks, all wall time on this machine (the collector stamps its rows with the same clock):
* ``end``: when the run's last span (the root's end; flat: the last model call) ended;
* ``received``: when the collector acknowledged the request carrying it (the spool holds it);
* ``stored``: the root span row's ``IngestedAt`` (the store insert);
* ``assembled``: ``AssembledAt`` of the trajectory's first ``complete`` version, read from
  ``trajectories_data`` after the run: it does not depend on how often anyone polls, but precedes
  that version's insert by the time the insert takes. (Earlier ``running`` versions may be merged
  away by then, so "all turns" is only measured by probing.)
* ``inserted``: when the insert of that first ``complete`` version (with all turns) returned in
  the collector: the moment it became queryable, exactly. The collector keeps these times for its
  latest complete versions (``assemble.completed_log_size``) and lists them in ``GET /v1/status
  ?completed_since=``, which the prober reads every second.
* ``seen``: the first probe (a ``SELECT`` of the stored versions, through the collector's
  ``POST /v1/query``, every ``--probe-interval``) that returned it: an upper bound. The probe
  shares the store with ingest and assembly, so it costs them a little time.
Flat runs are complete only after ``assemble.idle_timeout_s`` of quiet; their complete latency is
reported minus that period. The collector's assembly counters at the end (passes, time in
passes, cache hits and misses: ``/v1/status`` ``assembly``) are recorded with the results.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "src"))

from ingest import _agent_run, _percentile, _start_py_spy, _stop_py_spy, _text, machine_facts  # noqa: E402
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import INVALID_SPAN, SpanKind, set_span_in_context  # noqa: E402

from trajotel.config import load_config  # noqa: E402
from trajotel.testing.collector_process import CollectorProcess  # noqa: E402

TENANT = "default"
TARGET_P99_MS = 1000.0  # issue 4, item 8: queryable within 1 s (p99) of the root span's arrival


@dataclass
class Run:
    trajectory_id: str  # the root's trace id; flat: the first model call's trace id
    spans: list[ReadableSpan]
    flat: bool
    offsets: list[float]  # per span: seconds after the run starts that it ends
    start: float = 0.0  # seconds after the load starts
    # Wall times (seconds since the epoch), filled in as the benchmark learns them.
    end: float = 0.0
    received: float = 0.0
    stored: float = 0.0
    assembled_complete: float = 0.0
    inserted_complete: float = 0.0
    seen_all_turns: float = 0.0
    seen_complete: float = 0.0


@dataclass
class Export:
    at: float  # seconds after the load starts
    spans: list[tuple[int, int]]  # (run index, span index)
    body: bytes = b""


# --- workload -----------------------------------------------------------------------------------


def _flat_run(tracer: Any, rng: random.Random, turns: int, t0: int) -> None:
    """A tool loop with no root span: each model call is a trace of its own."""
    history: list[dict[str, Any]] = [{"role": "user", "parts": [{"type": "text", "content": _text(rng)}]}]
    now = t0
    for turn in range(turns):
        last = turn == turns - 1
        call_id = f"call_{rng.getrandbits(96):024x}"
        parts: list[dict[str, Any]] = [{"type": "text", "content": _text(rng)}]
        if not last:
            parts.append(
                {"type": "tool_call", "id": call_id, "name": "search", "arguments": {"q": _text(rng, 40)}}
            )
        output = {"role": "assistant", "parts": parts, "finish_reason": "stop" if last else "tool_calls"}
        now += 1_000_000
        chat = tracer.start_span(
            "chat gpt-4o-mini",
            context=set_span_in_context(INVALID_SPAN),
            kind=SpanKind.CLIENT,
            start_time=now,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.input.messages": json.dumps(history, separators=(",", ":")),
                "gen_ai.output.messages": json.dumps([output], separators=(",", ":")),
            },
        )
        now += rng.randint(300, 3000) * 1_000_000
        chat.end(end_time=now)
        history.append({k: v for k, v in output.items() if k != "finish_reason"})
        if not last:
            response = {"type": "tool_call_response", "id": call_id, "response": _text(rng)}
            history.append({"role": "tool", "parts": [response]})


def build_runs(count: int, turns: int, flat_share: float, run_seconds: float, seed: int) -> list[Run]:
    """``count`` runs, their spans in end order, each span's end spread over ``run_seconds``."""
    rng = random.Random(seed)
    provider = TracerProvider(resource=Resource.create({"service.name": "latency-agent"}))
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("bench.latency")
    runs = []
    t0 = time.time_ns()
    for _ in range(count):
        flat = rng.random() < flat_share
        (_flat_run if flat else _agent_run)(tracer, rng, turns, t0)
        spans = sorted(exporter.get_finished_spans(), key=lambda s: s.end_time)
        exporter.clear()
        first, last = spans[0].end_time, spans[-1].end_time
        offsets = [run_seconds * (s.end_time - first) / max(last - first, 1) for s in spans]
        identity = spans[0] if flat else spans[-1]
        runs.append(Run(format(identity.context.trace_id, "032x"), spans, flat, offsets))
    provider.shutdown()
    return runs


def plan_exports(runs: list[Run], run_indices: list[int], delay: float, batch: int) -> list[Export]:
    """What one BatchSpanProcessor sends for these runs: ``batch`` spans as soon as that many
    wait, else what waits every ``delay`` seconds after the previous export."""
    ended = sorted((runs[i].start + at, i, k) for i in run_indices for k, at in enumerate(runs[i].offsets))
    exports: list[Export] = []
    waiting: list[tuple[int, int]] = []
    previous = 0.0
    for at, i, k in ended:
        while at > previous + delay:
            previous += delay
            if waiting:
                exports.append(Export(previous, waiting))
                waiting = []
        waiting.append((i, k))
        if len(waiting) >= batch:
            exports.append(Export(at, waiting))
            waiting, previous = [], at
    if waiting:
        exports.append(Export(previous + delay, waiting))
    for export in exports:
        export.body = encode_spans([runs[i].spans[k] for i, k in export.spans]).SerializeToString()
    return exports


# --- the load -----------------------------------------------------------------------------------


def export_loop(port: int, exports: list[Export], load_start: float, out: Connection) -> None:
    """A sender process: POST each export at its time; send back (sent, acknowledged) wall times.
    A request the collector refuses (429/503 back-pressure) is retried after a pause, as the
    SDK's exporter does; the retries are counted."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    timings: list[tuple[float, float]] = []
    retries = 0
    try:
        for export in exports:
            pause = load_start + export.at - time.time()
            if pause > 0:
                time.sleep(pause)
            sent = time.time()
            while True:
                conn.request("POST", "/v1/traces", export.body, {"Content-Type": "application/x-protobuf"})
                response = conn.getresponse()
                response.read()
                if response.status == 200:
                    break
                if response.status not in (429, 503):
                    raise RuntimeError(f"export answered HTTP {response.status}")
                retries += 1
                time.sleep(0.5)
            timings.append((sent, time.time()))
        out.send({"timings": timings, "retries": retries})
    except Exception as exc:  # reported by the parent
        out.send({"error": repr(exc)})
    finally:
        conn.close()


def _process_tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        tree.append(todo.pop())
        todo.extend(children.get(tree[-1], []))
    return tree


def tree_usage(pid: int) -> tuple[float, float]:
    """CPU seconds and RSS (MiB) of a process and its descendants (the collector's preparers)."""
    cpu = rss = 0.0
    for member in _process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        cpu += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        rss += int(fields[21]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return cpu, rss


class Prober(threading.Thread):
    """Asks, every ``interval``, about the runs whose last span was due and that are not yet
    complete (a short IN list: cheap for the collector); notes when each is first seen with all
    turns and when complete. Also samples the collector's memory and assembly backlog."""

    def __init__(self, collector: CollectorProcess, runs: list[Run], turns: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.collector, self.runs, self.turns, self.interval = collector, runs, turns, interval
        self.stop_event = threading.Event()
        self.round_trips: list[float] = []  # seconds per probe: the resolution of "seen"
        self.peak_rss_mb = 0.0
        self.peak_pending = 0
        self.peak_spool_backlog = 0  # bytes received but not yet stored
        self.error: BaseException | None = None
        self.completed_cursor = 0.0  # the newest insert time read from the collector
        self.by_id = {run.trajectory_id: run for run in runs}

    def read_completed(self) -> dict[str, Any]:
        """The collector's status, with the complete versions written since the last call: the
        first one with all turns sets a run's ``inserted_complete``."""
        status = json.loads(
            self.collector.api("GET", f"/v1/status?completed_since={self.completed_cursor!r}")
        )
        by_id = self.by_id
        for entry in status.get("completed_versions", []):
            self.completed_cursor = max(self.completed_cursor, entry["written_at"])
            run = by_id.get(entry["trajectory_id"])
            if run is not None and entry["turns"] == self.turns and not run.inserted_complete:
                run.inserted_complete = entry["written_at"]
        return status

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:
            self.error = exc

    def _run(self) -> None:
        by_id = self.by_id
        pid = self.collector.proc.pid if self.collector.proc else 0
        next_sample = 0.0
        while not self.stop_event.is_set():
            now = time.time()
            waiting = [r.trajectory_id for r in self.runs if 0 < r.end <= now and not r.seen_complete]
            if waiting:
                ids = ",".join(f"'{t}'" for t in waiting)
                # Any stored version will do, so no FINAL: a primary-key lookup per id, which
                # stays cheap even when a backlog makes the list long.
                rows = self.collector.query(
                    f"SELECT TrajectoryId AS id, max(Status = 'complete') AS complete "
                    f"FROM trajectories_data WHERE Tenant = '{TENANT}' AND TrajectoryId IN ({ids}) "
                    f"AND TurnCount = {self.turns} AND NOT IsDeleted GROUP BY TrajectoryId"
                )
                seen = time.time()
                self.round_trips.append(seen - now)
                for row in rows:
                    run = by_id[row["id"]]
                    run.seen_all_turns = run.seen_all_turns or seen
                    if int(row["complete"]):
                        run.seen_complete = seen
            if now >= next_sample:
                next_sample = now + 1.0
                self.peak_rss_mb = max(self.peak_rss_mb, tree_usage(pid)[1])
                status = self.read_completed()
                self.peak_pending = max(self.peak_pending, int(status.get("traces_pending_assembly", 0)))
                backlog = int(status.get("spool_unwritten_bytes", 0))
                self.peak_spool_backlog = max(self.peak_spool_backlog, backlog)
            self.stop_event.wait(self.interval)


def read_store_times(collector: CollectorProcess, runs: list[Run], turns: int) -> None:
    """Fill in ``stored`` and ``assembled_complete`` from the rows' own timestamps."""
    by_id = {run.trajectory_id: run for run in runs}
    versions = collector.query(
        "SELECT TrajectoryId AS id, toUnixTimestamp64Micro(min(AssembledAt)) AS complete "
        f"FROM trajectories_data WHERE Tenant = '{TENANT}' AND TurnCount = {turns} AND NOT IsDeleted "
        "AND Status = 'complete' GROUP BY TrajectoryId"
    )
    for row in versions:
        if run := by_id.get(row["id"]):
            run.assembled_complete = int(row["complete"]) / 1e6
    roots = collector.query(
        "SELECT TraceId AS id, toUnixTimestamp64Micro(max(IngestedAt)) AS stored FROM spans "
        f"WHERE Tenant = '{TENANT}' AND ParentSpanId = '' GROUP BY TraceId"
    )
    for row in roots:
        if (run := by_id.get(row["id"])) and not run.flat:
            run.stored = int(row["stored"]) / 1e6


# --- report -------------------------------------------------------------------------------------


def _stats(values: list[float]) -> dict[str, float]:
    ms = sorted(v * 1000 for v in values)
    if not ms:
        return {"count": 0}
    summary = {f"p{p}_ms": round(_percentile(ms, p), 1) for p in (50, 90, 99)}
    return summary | {"max_ms": round(ms[-1], 1), "count": len(ms)}


def _between(runs: list[Run], start: str, stop: str, minus: float = 0.0) -> dict[str, float]:
    pairs = [(getattr(r, start), getattr(r, stop)) for r in runs]
    return _stats([b - a - minus for a, b in pairs if a and b])


def _verdict(lower: dict[str, float], upper: dict[str, float], exact: dict[str, float] | None = None) -> str:
    """Against the target: ``inserted`` when the collector reported it (the true latency), else
    the bounds: ``assembled`` is a lower bound, ``seen`` an upper one."""
    if exact and exact.get("count"):
        return "met" if exact["p99_ms"] <= TARGET_P99_MS else "not met"
    if upper.get("p99_ms", float("inf")) <= TARGET_P99_MS:
        return "met"
    if lower.get("p99_ms", float("inf")) > TARGET_P99_MS:
        return "not met"
    return "undetermined: the target lies between the assembled and the seen p99"


def report(runs: list[Run], idle_timeout_s: float) -> dict[str, Any]:
    rooted = [r for r in runs if not r.flat]
    flat = [r for r in runs if r.flat]
    rooted_lower = _between(rooted, "received", "assembled_complete")
    rooted_upper = _between(rooted, "received", "seen_complete")
    flat_lower = _between(flat, "received", "assembled_complete", idle_timeout_s)
    flat_upper = _between(flat, "received", "seen_complete", idle_timeout_s)
    rooted_exact = _between(rooted, "received", "inserted_complete")
    flat_exact = _between(flat, "received", "inserted_complete", idle_timeout_s)
    return {
        "target_p99_ms": TARGET_P99_MS,
        "rooted_target": _verdict(rooted_lower, rooted_upper, rooted_exact),
        "flat_target": _verdict(flat_lower, flat_upper, flat_exact),
        "rooted": {
            "received_to_inserted_complete": rooted_exact,
            "received_to_seen_complete": rooted_upper,
            "received_to_assembled_complete": rooted_lower,
            "end_to_seen_complete": _between(rooted, "end", "seen_complete"),
            "received_to_seen_all_turns": _between(rooted, "received", "seen_all_turns"),
            "breakdown": {
                "end_to_received": _between(rooted, "end", "received"),
                "received_to_stored": _between(rooted, "received", "stored"),
                "stored_to_assembled_complete": _between(rooted, "stored", "assembled_complete"),
                "assembled_complete_to_inserted": _between(rooted, "assembled_complete", "inserted_complete"),
                "inserted_complete_to_seen": _between(rooted, "inserted_complete", "seen_complete"),
            },
        },
        "flat": {
            "received_to_seen_all_turns": _between(flat, "received", "seen_all_turns"),
            "received_to_inserted_complete_minus_idle": flat_exact,
            "received_to_seen_complete_minus_idle": flat_upper,
            "received_to_assembled_complete_minus_idle": flat_lower,
        },
        "never_seen_complete": sum(1 for r in runs if not r.seen_complete),
        "inserted_unknown": sum(1 for r in runs if not r.inserted_complete),
    }


# --- main ---------------------------------------------------------------------------------------


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="spans per second (default 1000)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds over which runs start (60)")
    parser.add_argument("--turns", type=int, default=6, help="model calls per run (6)")
    parser.add_argument("--run-seconds", type=float, default=3.0, help="how long one run lasts (3)")
    parser.add_argument("--flat-share", type=float, default=0.2, help="share of root-less flat loops (0.2)")
    parser.add_argument(
        "--exporters", type=int, default=1, help="sender processes, one BatchSpanProcessor each"
    )
    parser.add_argument("--export-delay", type=float, default=5.0, help="exporter schedule delay, s (5)")
    parser.add_argument("--export-batch", type=int, default=512, help="exporter max batch, spans (512)")
    parser.add_argument("--probe-interval", type=float, default=0.2, help="seconds between probes (0.2)")
    parser.add_argument("--clickhouse", metavar="URL", help="store in a ClickHouse server instead of chdb")
    parser.add_argument(
        "--collector-env", action="append", default=[], metavar="NAME=VALUE", help="a TRAJOTEL_* setting"
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the collector during the load")
    parser.add_argument("--profile-raw", type=Path, metavar="PATH", help="with --profile: keep the stacks")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "latency.json")
    return parser.parse_args(argv)


@dataclass
class Load:
    """What the senders and the collector's process tree did during the load."""

    start: float = 0.0  # wall time the load starts
    seconds: float = 0.0  # load start to the last acknowledgement
    steady_spans_per_s: float = 0.0  # acknowledged while every run overlaps others
    steady_cpu_cores: float = 0.0  # collector CPU seconds per second, same window
    max_late_s: float = 0.0  # how far behind its schedule a request was sent, at worst
    max_request_s: float = 0.0  # the slowest request's round trip
    retries: int = 0
    status: dict[str, Any] | None = None  # the collector's /v1/status at the end


def play(
    collector: CollectorProcess, runs: list[Run], plans: list[list[Export]], steady: tuple[float, float]
) -> Load:
    """Send every plan from its own process; fill in each run's ``end`` and ``received``.
    ``steady``: the window (seconds after the load starts) in which throughput is measured."""
    load_start = time.time() + 1.0
    load = Load(start=load_start)
    for run in runs:
        run.end = load_start + run.start + run.offsets[-1]
    fork = multiprocessing.get_context("fork")  # the senders inherit the encoded requests
    pipes, senders = [], []
    for plan in plans:
        receiver, sender_end = fork.Pipe(duplex=False)
        process = fork.Process(target=export_loop, args=(collector.http_port, plan, load_start, sender_end))
        process.start()
        pipes.append(receiver)
        senders.append(process)
    pid = collector.proc.pid if collector.proc else 0
    cpu = []
    for at in steady:
        time.sleep(max(0.0, load_start + at - time.time()))
        cpu.append(tree_usage(pid)[0])
    load.steady_cpu_cores = (cpu[1] - cpu[0]) / (steady[1] - steady[0])
    steady_spans = 0
    for k, (pipe, process, plan) in enumerate(zip(pipes, senders, plans, strict=True)):
        result = pipe.recv()
        process.join()
        if "error" in result:
            raise RuntimeError(f"sender {k}: {result['error']}")
        load.retries += result["retries"]
        for export, (sent, acked) in zip(plan, result["timings"], strict=True):
            load.seconds = max(load.seconds, acked - load_start)
            load.max_late_s = max(load.max_late_s, sent - load_start - export.at)
            load.max_request_s = max(load.max_request_s, acked - sent)
            if steady[0] <= acked - load_start < steady[1]:
                steady_spans += len(export.spans)
            for i, s in export.spans:
                if s == len(runs[i].spans) - 1:
                    runs[i].received = acked
    load.steady_spans_per_s = steady_spans / (steady[1] - steady[0])
    return load


def wait_until_complete(prober: Prober, runs: list[Run], timeout_s: float) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline and not all(r.seen_complete for r in runs) and prober.is_alive():
        time.sleep(0.2)
    prober.stop_event.set()
    prober.join()
    if prober.error is not None:
        raise prober.error


def _git_state() -> str:
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    dirty = git("status", "--porcelain", "--untracked-files=no", "src")
    return git("rev-parse", "--short", "HEAD") + (" + uncommitted changes in src/" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    env = dict(item.split("=", 1) for item in args.collector_env)
    if args.clickhouse:
        env["TRAJOTEL_STORE_CLICKHOUSE"] = args.clickhouse
    assemble = load_config(environ=env).assemble
    spans_per_run = args.turns * (2 - args.flat_share)  # rooted: 2 * turns spans; flat: turns
    runs_per_s = args.rate / spans_per_run
    count = int(runs_per_s * args.duration)
    print(f"building {count} runs ...", file=sys.stderr)
    runs = build_runs(count, args.turns, args.flat_share, args.run_seconds, args.seed)
    for index, run in enumerate(runs):
        run.start = index / runs_per_s
    plans = [
        plan_exports(runs, list(range(k, len(runs), args.exporters)), args.export_delay, args.export_batch)
        for k in range(args.exporters)
    ]
    # Throughput is measured once runs overlap (after the first run's length) until runs stop
    # starting; with a short --duration, over the whole load.
    steady = (
        (args.run_seconds, args.duration) if args.duration > 2 * args.run_seconds else (0.0, args.duration)
    )
    print(f"sending {sum(len(r.spans) for r in runs)} spans ...", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp, CollectorProcess(Path(tmp) / "data", env=env) as collector:
        prober = Prober(collector, runs, args.turns, args.probe_interval)
        prober.start()
        spy_out = Path(tmp) / "collector.pyspy"
        spy = _start_py_spy(collector.proc.pid, spy_out) if args.profile and collector.proc else None
        load = play(collector, runs, plans, steady)
        profile = _stop_py_spy(spy, spy_out)
        if args.profile_raw and spy_out.exists():
            shutil.copyfile(spy_out, args.profile_raw)
        wait_until_complete(prober, runs, assemble.idle_timeout_s + 60)
        load.status = prober.read_completed()  # and the insert times not read yet
        load.status.pop("completed_versions", None)
        read_store_times(collector, runs, args.turns)

    results = {
        "command": "python bench/latency.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "code": _git_state(),
        "machine": machine_facts() | {"loadavg_after": os.getloadavg()},
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        | {"collector_assemble": asdict(assemble)},
        "workload": {
            "rooted_runs": sum(1 for r in runs if not r.flat),
            "flat_runs": sum(1 for r in runs if r.flat),
            "spans": sum(len(r.spans) for r in runs),
            "requests": sum(len(p) for p in plans),
        },
        "load": {
            "seconds": round(load.seconds, 1),
            "steady_window_s": list(steady),
            "steady_spans_per_s": round(load.steady_spans_per_s, 1),
            "max_send_late_s": round(load.max_late_s, 3),
            "max_request_s": round(load.max_request_s, 3),
            "export_retries": load.retries,
            "probes": len(prober.round_trips),
            "probe_round_trip": _stats(prober.round_trips),
        },
        "collector": {
            "steady_cpu_cores": round(load.steady_cpu_cores, 2),
            "peak_rss_mib": round(prober.peak_rss_mb, 1),
            "peak_traces_pending_assembly": prober.peak_pending,
            "peak_spool_backlog_mib": round(prober.peak_spool_backlog / 2**20, 1),
            "trajectory_versions_written": (load.status or {}).get("trajectory_versions_written"),
            "assembly": (load.status or {}).get("assembly"),  # passes, cache hits and misses
            "enrichments_written": (load.status or {}).get("enrichments_written"),
            "enrichment_yielded_seconds": (load.status or {}).get("enrichment_yielded_seconds"),
            "enrichment_handed_off": (load.status or {}).get("enrichment_handed_off"),
        },
        "latency": report(runs, assemble.idle_timeout_s),
    }
    if profile:
        results["collector_profile"] = profile
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k not in ("machine", "settings")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
