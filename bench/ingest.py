#!/usr/bin/env python
"""Ingest benchmark (issue 2): spans/s from an OTLP request to a stored row.

    .venv/bin/python bench/ingest.py [--spans N] [--clients K] [--small] [--json OUT]

Phases (see bench/README.md and docs/benchmarks.md):

1. workload: realistic agent traffic is produced once, up front, with the real OpenTelemetry
   SDK (TracerProvider + InMemorySpanExporter) and encoded with the OTLP exporter's own
   ``encode_spans`` into ExportTraceServiceRequest bytes of 512 spans (the SDK's default
   batch size). Nothing is encoded while measuring, so the client is not the bottleneck.
2. stages: in a child process, single thread, the collector's own code: decode
   (``FromString``), ``normalize_traces`` and ``write_batch`` into a fresh embedded store, in
   batches of ``writer.batch_rows`` rows the way ``StoreWriter`` forms them.
3. direct: the engine's own insert ceiling for the same rows: normalized once, serialized once
   to JSONEachRow, then inserted through ``chdb.connect(path).send_insert`` (and through
   ``Store.insert_json_lines``, trajotel's own store path) into the same schema.
4. end to end: the real collector (``trajotel collector``) as a subprocess; the pre-encoded
   requests are POSTed over OTLP/HTTP (keep-alive, one connection per client thread), then
   sent over OTLP/gRPC to a second fresh collector; the clock stops when
   ``SELECT count() FROM spans`` (POST /v1/query) equals the number of spans sent.

Phases 2 and 3 run in child processes because chdb allows one store directory per process
and so that each phase's peak RSS is its own. Only loopback sockets are used.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import json
import os
import platform
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_SPANS_PER_S = 20_000
EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

# ---------------------------------------------------------------------------------------------
# workload
# ---------------------------------------------------------------------------------------------

_SAMPLE_TEXT = (
    "the agent should check weather forecast for oslo tomorrow and compare it with bergen then "
    "summarize rainfall wind temperature in a short table using metric units before answering "
    "user question about whether to bring an umbrella also consider flight schedule hotel price "
    "currency exchange rate local events museum opening hours train connection ferry timetable "
    "result search query document page section figure report draft review error retry cache"
)
_WORDS = _SAMPLE_TEXT.split()
_TOOLS = ("get_weather", "search_web", "read_file", "run_sql", "http_get", "calculator")
_MODELS = (("gpt-4o-mini", "gpt-4o-mini-2024-07-18"), ("gpt-4.1", "gpt-4.1-2025-04-14"))


def _text(rng: random.Random, chars: int = 200) -> str:
    out: list[str] = []
    size = 0
    while size < chars:
        word = rng.choice(_WORDS)
        out.append(word)
        size += len(word) + 1
    return " ".join(out)[:chars]


def _agent_run(tracer: Any, rng: random.Random, turns: int, t0: int) -> None:
    """One agent run: invoke_agent root, ``turns`` chat spans, ``turns - 1`` execute_tool spans."""
    from opentelemetry.trace import SpanKind, set_span_in_context

    request_model, response_model = rng.choice(_MODELS)
    conversation = f"conv_{rng.getrandbits(64):016x}"
    step = 1_000_000  # 1 ms
    now = t0
    root = tracer.start_span(
        "invoke_agent travel_helper",
        kind=SpanKind.INTERNAL,
        start_time=now,
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.provider.name": "openai",
            "gen_ai.agent.name": "travel_helper",
            "gen_ai.agent.id": "asst_travel_helper",
            "gen_ai.request.model": request_model,
            "gen_ai.conversation.id": conversation,
        },
    )
    ctx = set_span_in_context(root)
    history: list[dict[str, Any]] = [{"role": "user", "parts": [{"type": "text", "content": _text(rng)}]}]
    total_in = total_out = 0
    for turn in range(turns):
        last = turn == turns - 1
        now += step
        chat = tracer.start_span(f"chat {request_model}", context=ctx, kind=SpanKind.CLIENT, start_time=now)
        if last:
            output = {
                "role": "assistant",
                "parts": [{"type": "text", "content": _text(rng)}],
                "finish_reason": "stop",
            }
            call = None
        else:
            tool = rng.choice(_TOOLS)
            call_id = f"call_{rng.getrandbits(96):024x}"
            arguments = {"query": _text(rng, 60), "limit": rng.randint(1, 20)}
            call = (tool, call_id, arguments)
            output = {
                "role": "assistant",
                "parts": [
                    {"type": "text", "content": _text(rng)},
                    {"type": "tool_call", "id": call_id, "name": tool, "arguments": arguments},
                ],
                "finish_reason": "tool_calls",
            }
        input_tokens = 40 * sum(len(m["parts"]) for m in history) + rng.randint(0, 30)
        output_tokens = rng.randint(20, 120)
        total_in += input_tokens
        total_out += output_tokens
        chat.set_attributes(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": request_model,
                "gen_ai.request.temperature": 0.2,
                "gen_ai.request.max_tokens": 1024,
                "gen_ai.response.model": response_model,
                "gen_ai.response.id": f"chatcmpl-{rng.getrandbits(120):030x}",
                "gen_ai.response.finish_reasons": (output["finish_reason"],),
                "gen_ai.usage.input_tokens": input_tokens,
                "gen_ai.usage.output_tokens": output_tokens,
                "gen_ai.conversation.id": conversation,
                "server.address": "api.openai.com",
                "server.port": 443,
                "gen_ai.input.messages": json.dumps(history, separators=(",", ":")),
                "gen_ai.output.messages": json.dumps([output], separators=(",", ":")),
            }
        )
        now += rng.randint(300, 3000) * step
        chat.end(end_time=now)
        history.append({k: v for k, v in output.items() if k != "finish_reason"})
        if call is None:
            continue
        tool, call_id, arguments = call
        now += step
        result = _text(rng)
        span = tracer.start_span(
            f"execute_tool {tool}",
            context=ctx,
            kind=SpanKind.INTERNAL,
            start_time=now,
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": tool,
                "gen_ai.tool.type": "function",
                "gen_ai.tool.call.id": call_id,
                "gen_ai.tool.call.arguments": json.dumps(arguments, separators=(",", ":")),
                "gen_ai.tool.call.result": result,
            },
        )
        now += rng.randint(5, 500) * step
        span.end(end_time=now)
        history.append(
            {"role": "tool", "parts": [{"type": "tool_call_response", "id": call_id, "response": result}]}
        )
    root.set_attributes({"gen_ai.usage.input_tokens": total_in, "gen_ai.usage.output_tokens": total_out})
    root.end(end_time=now + step)


def _small_trace(tracer: Any, rng: random.Random, spans: int, t0: int) -> None:
    """Plain spans with 4 attributes: a root and ``spans - 1`` children."""
    from opentelemetry.trace import SpanKind, set_span_in_context

    def attrs(i: int) -> dict[str, Any]:
        return {
            "http.request.method": "GET",
            "url.path": f"/api/items/{rng.randint(1, 10_000)}",
            "http.response.status_code": 200,
            "app.cache_hit": i % 3 == 0,
        }

    root = tracer.start_span("GET /api/items", kind=SpanKind.SERVER, start_time=t0, attributes=attrs(0))
    ctx = set_span_in_context(root)
    now = t0
    for i in range(1, spans):
        now += 1_000_000
        child = tracer.start_span(f"step {i}", context=ctx, start_time=now, attributes=attrs(i))
        now += rng.randint(1, 50) * 1_000_000
        child.end(end_time=now)
    root.end(end_time=now + 1_000_000)


def build_requests(
    total_spans: int, *, small: bool, turns: int = 10, batch: int = 512, seed: int = 2
) -> tuple[list[bytes], list[int]]:
    """Pre-encoded ExportTraceServiceRequest bytes of ``batch`` spans (the last one may be short)
    and the span count of each. Spans are exported in end order, as a BatchSpanProcessor would."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    rng = random.Random(seed)
    resource = Resource.create(
        {
            "service.name": "bench-agent",
            "service.version": "1.0.0",
            "deployment.environment.name": "bench",
            "host.name": "bench-host",
        }
    )
    provider = TracerProvider(resource=resource)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("bench.agent", "1.0.0")
    requests: list[bytes] = []
    counts: list[int] = []
    pending: list[Any] = []
    produced = 0
    t0 = time.time_ns() - 3_600 * 1_000_000_000
    while produced < total_spans:
        if small:
            _small_trace(tracer, rng, 10, t0)
        else:
            _agent_run(tracer, rng, turns, t0)
        t0 += 50_000_000
        finished = exporter.get_finished_spans()
        exporter.clear()
        finished = finished[: total_spans - produced]
        produced += len(finished)
        pending.extend(finished)
        while len(pending) >= batch or (pending and produced >= total_spans):
            chunk, pending = pending[:batch], pending[batch:]
            requests.append(encode_spans(chunk).SerializeToString())
            counts.append(len(chunk))
    provider.shutdown()
    return requests, counts


def save_requests(path: Path, requests: list[bytes]) -> None:
    with open(path, "wb") as fh:
        for r in requests:
            fh.write(struct.pack("<I", len(r)))
            fh.write(r)


def load_requests(path: Path) -> list[bytes]:
    data = path.read_bytes()
    out, pos = [], 0
    while pos < len(data):
        (n,) = struct.unpack_from("<I", data, pos)
        out.append(data[pos + 4 : pos + 4 + n])
        pos += 4 + n
    return out


# ---------------------------------------------------------------------------------------------
# process facts
# ---------------------------------------------------------------------------------------------


def _proc_status(pid: int | str = "self") -> dict[str, int]:
    """VmHWM / VmRSS in MiB from /proc/PID/status."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                out[key] = int(value.split()[0]) // 1024
    except OSError:
        pass
    return out


def _cpu_seconds(pid: int | str = "self") -> float:
    """utime + stime of a process (all its threads), in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _profile_top(profile: Any, limit: int = 12) -> list[dict[str, Any]]:
    """The functions with the most own time in a cProfile run."""
    import pstats

    stats = pstats.Stats(profile)
    raw = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values()) or 1.0
    rows = []
    for (file, line, name), (_cc, calls, tottime, cumtime, _callers) in raw.items():
        where = f"{Path(file).name}:{line}" if line else "~"
        rows.append(
            {
                "function": f"{name} ({where})",
                "calls": calls,
                "own_s": round(tottime, 3),
                "cum_s": round(cumtime, 3),
                "own_share": round(tottime / total, 3),
            }
        )
    rows.sort(key=lambda r: -r["own_s"])
    return rows[:limit]


def _start_py_spy(pid: int, out: Path) -> subprocess.Popen | None:
    """Sample the collector with py-spy (if installed) until stopped with SIGINT."""
    exe = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if exe is None:
        print("py-spy not found: no collector profile (pip install py-spy)", file=sys.stderr)
        return None
    cmd = [exe, "record", "--pid", str(pid), "--format", "raw", "--output", str(out)]
    cmd += ["--threads", "--nolineno", "--nonblocking", "--rate", "100"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attach
    return proc


def _stop_py_spy(proc: subprocess.Popen | None, out: Path, limit: int = 15) -> dict[str, Any] | None:
    """Stop py-spy and fold its raw stacks into per-thread and per-function shares of samples."""
    if proc is None:
        return None
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if not out.exists():
        return None
    threads: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        thread = frames[0] if frames and frames[0].startswith("thread") else "?"
        calls = frames[1:] if thread != "?" else frames
        # py-spy names the thread by its id; the outermost frames tell which one it is.
        role = _thread_role(calls)
        threads[role] = threads.get(role, 0) + n
        for f in set(calls):
            if not f.endswith(_PLUMBING):
                inclusive[f] = inclusive.get(f, 0) + n
        if calls:
            own[calls[-1]] = own.get(calls[-1], 0) + n
    if not total:
        return None

    def top(counter: dict[str, int]) -> list[tuple[str, float]]:
        return [(k, round(v / total, 3)) for k, v in sorted(counter.items(), key=lambda kv: -kv[1])[:limit]]

    return {
        "samples": total,
        "threads": top(threads),
        "inclusive": top(inclusive),
        "own": top(own),
    }


# Frames every thread has in common; left out of the inclusive ranking.
_PLUMBING = ("(threading.py)", "(socketserver.py)", "(http/server.py)", "(concurrent/futures/thread.py)")


def _thread_role(frames: list[str]) -> str:
    text = ";".join(frames)
    for needle, role in (
        ("Collector.stop", "main thread: Collector.stop"),
        ("StoreWriter", "store writer"),
        ("AssemblyWorker", "assembler"),
        ("_otlp_traces", "HTTP receiver (OTLP)"),
        ("_TraceService", "gRPC receiver"),
        ("_custom", "HTTP API (/v1/status, /v1/query)"),
        ("process_request_thread", "HTTP receiver (other)"),
        ("_wait_synced", "spool fsync"),
    ):
        if needle in text:
            return role
    return "other"


def machine_facts() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) // 1024 // 1024} GiB"
    versions = {}
    for dist in ("chdb", "chdb-core", "clickhouse-connect", "protobuf", "grpcio", "opentelemetry-sdk"):
        from importlib.metadata import PackageNotFoundError, version

        try:
            versions[dist] = version(dist)
        except PackageNotFoundError:
            versions[dist] = "-"
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": versions,
    }


# ---------------------------------------------------------------------------------------------
# phase 2: stages, in-process, the collector's own code
# ---------------------------------------------------------------------------------------------


def _merge_like_writer(batches: list[Any], batch_rows: int) -> list[Any]:
    """Group per-request batches into store batches the way ``StoreWriter.drain_once`` does."""
    from trajotel.normalize import NormalizedBatch

    out, current = [], NormalizedBatch()
    for b in batches:
        current.extend(b)
        if len(current.spans) >= batch_rows:
            out.append(current)
            current = NormalizedBatch()
    if current.spans:
        out.append(current)
    return out


def phase_stages(
    requests_file: Path, store_dir: Path, batch_rows: int, profile: bool = False
) -> dict[str, Any]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from trajotel.collector.ingest import _RecentContent
    from trajotel.normalize import normalize_traces
    from trajotel.store import Store
    from trajotel.store.connection import encode_json_rows
    from trajotel.store.spans import write_batch

    requests = load_requests(requests_file)
    out: dict[str, Any] = {"requests": len(requests), "bytes": sum(map(len, requests))}

    t = time.perf_counter()
    decoded = [ExportTraceServiceRequest.FromString(r) for r in requests]
    out["decode_s"] = time.perf_counter() - t
    spans = sum(len(ss.spans) for m in decoded for rs in m.resource_spans for ss in rs.scope_spans)
    out["spans"] = spans

    t = time.perf_counter()
    normalized = [normalize_traces(m, "default") for m in decoded]
    out["normalize_s"] = time.perf_counter() - t
    if not profile:
        del decoded

    t = time.perf_counter()
    batches = _merge_like_writer(normalized, batch_rows)
    out["merge_s"] = time.perf_counter() - t
    del normalized
    out["store_batches"] = len(batches)
    out["content_rows"] = sum(len(b.contents) for b in batches)

    store = Store.open(f"chdb://{store_dir}")
    recent = _RecentContent()
    # The write stage split in two: the JSONEachRow text Store.insert_json_rows builds (timed
    # on the side, not inserted), then write_batch itself, which builds it again and inserts.
    t = time.perf_counter()
    for b in batches:
        encode_json_rows(b.spans)
    out["write_serialize_spans_s"] = time.perf_counter() - t
    t = time.perf_counter()
    for i, b in enumerate(batches):
        write_batch(store, b, recent.take_fresh(b.contents), f"bench-{i}")
    out["write_s"] = time.perf_counter() - t
    stored = store.query("SELECT count() FROM spans").rows[0][0]
    out["stored"] = int(stored)
    out["rss_peak_mib"] = _proc_status().get("VmHWM", 0)
    if profile:
        # Separate passes under cProfile, after the timed ones (profiling inflates times).
        import cProfile

        prof = cProfile.Profile()
        prof.runcall(lambda: [normalize_traces(m, "default") for m in decoded])
        out["profile_normalize"] = _profile_top(prof)
        prof = cProfile.Profile()
        prof.runcall(
            lambda: [write_batch(store, b, list(b.contents), f"prof-{i}") for i, b in enumerate(batches)]
        )
        out["profile_write"] = _profile_top(prof)
    store.close()
    return out


# ---------------------------------------------------------------------------------------------
# phase 3: the engine's own insert ceiling for the same rows
# ---------------------------------------------------------------------------------------------


def phase_direct(
    requests_file: Path, store_dir: Path, batch_rows: int, profile: bool = False
) -> dict[str, Any]:
    import chdb
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from trajotel.normalize import normalize_traces
    from trajotel.store import Store

    requests = load_requests(requests_file)
    batches = _merge_like_writer(
        [normalize_traces(ExportTraceServiceRequest.FromString(r), "default") for r in requests], batch_rows
    )
    del requests

    def lines(rows: list[dict[str, Any]]) -> bytes:
        return "\n".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in rows).encode()

    bodies = []
    for b in batches:
        contents = [
            {"Tenant": tenant, "Hash": h, "Kind": kind, "Content": text}
            for (tenant, h), (kind, text) in b.contents.items()
        ]
        bodies.append((lines(contents), lines(b.spans)))
    spans = sum(len(b.spans) for b in batches)
    out: dict[str, Any] = {"spans": spans, "json_bytes": sum(len(a) + len(b) for a, b in bodies)}
    del batches

    # Schema through the real migrations, then a second database of the same schema for the
    # clickhouse-connect path, so the two runs do not share a table.
    store = Store.open(f"chdb://{store_dir}", "direct_a")
    Store.open(f"chdb://{store_dir}", "direct_b").close()

    conn = chdb.connect(str(store_dir.resolve()))
    t = time.perf_counter()
    for contents, rows in bodies:
        for table, body in (("message_contents", contents), ("spans", rows)):
            with conn.send_insert(f"INSERT INTO direct_b.{table}", "JSONEachRow") as ins:
                ins.append(body)
                ins.finish()
    out["send_insert_s"] = time.perf_counter() - t

    t = time.perf_counter()
    for i, (contents, rows) in enumerate(bodies):
        store.insert_json_lines("message_contents", contents, f"d-{i}:contents")
        store.insert_json_lines("spans", rows, f"d-{i}:spans")
    out["connect_insert_s"] = time.perf_counter() - t

    counts = store.query(
        "SELECT (SELECT count() FROM direct_a.spans), (SELECT count() FROM direct_b.spans)"
    ).rows[0]
    out["stored_connect"], out["stored_send_insert"] = int(counts[0]), int(counts[1])
    conn.close()
    store.close()
    out["rss_peak_mib"] = _proc_status().get("VmHWM", 0)
    return out


def run_phase(
    phase: str, requests_file: Path, workdir: Path, batch_rows: int, profile: bool = False
) -> dict[str, Any]:
    """Run a phase in a fresh interpreter (one chdb store per process) and return its result."""
    store_dir = workdir / f"{phase}-store"
    result_file = workdir / f"{phase}.json"
    cmd = [
        sys.executable,
        __file__,
        "--_phase",
        phase,
        "--_requests",
        str(requests_file),
        "--_store",
        str(store_dir),
        "--_out",
        str(result_file),
        "--batch-rows",
        str(batch_rows),
        *(["--profile"] if profile else []),
    ]
    subprocess.run(cmd, check=True)
    result = json.loads(result_file.read_text())
    shutil.rmtree(store_dir, ignore_errors=True)
    return result


# ---------------------------------------------------------------------------------------------
# phase 4: end to end through the real collector
# ---------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CollectorProcess:
    def __init__(self, data_dir: Path, extra_env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.grpc_port = _free_port()
        self.http_port = _free_port()
        exe = Path(sys.executable).parent / "trajotel"
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "trajotel.cli.main"]
        cmd += [
            "collector",
            "--data",
            str(data_dir),
            "--grpc-port",
            str(self.grpc_port),
            "--http-port",
            str(self.http_port),
        ]
        self.log_path = data_dir.parent / f"{data_dir.name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop)
        env = {**os.environ, **(extra_env or {})}
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        self.pid = self.proc.pid

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        advert = self.data_dir / "collector.json"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"collector exited with {self.proc.returncode}; see {self.log_path}")
            if advert.exists():
                with contextlib.suppress(OSError, ValueError):
                    info = json.loads(advert.read_text())
                    self.pid = int(info["pid"])
                    with contextlib.suppress(OSError, http.client.HTTPException):
                        status, _ = self.request("GET", "/healthz")
                        if status == 200:
                            return
            time.sleep(0.05)
        raise RuntimeError(f"collector not ready after {timeout}s; see {self.log_path}")

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=60)
        try:
            data = None if body is None else json.dumps(body).encode()
            headers = {"Content-Type": "application/json"} if data is not None else {}
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def status(self) -> dict[str, Any]:
        code, body = self.request("GET", "/v1/status")
        return json.loads(body) if code == 200 else {}

    def count_spans(self) -> int:
        code, body = self.request("POST", "/v1/query", {"sql": "SELECT count() FROM spans", "format": "TSV"})
        if code != 200:
            raise RuntimeError(f"/v1/query answered {code}: {body[:200]!r}")
        return int(body.strip() or 0)

    def stop(self, timeout: float = 180.0) -> tuple[int | None, float]:
        t = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = None
        self._log.close()
        return rc, time.perf_counter() - t


def _send_http(port: int, requests: list[bytes], next_index: Any, latencies: list[float]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Content-Type": "application/x-protobuf"}
    try:
        for i in next_index:
            if i >= len(requests):
                return
            t = time.perf_counter()
            conn.request("POST", "/v1/traces", body=requests[i], headers=headers)
            resp = conn.getresponse()
            resp.read()
            latencies.append(time.perf_counter() - t)
            if resp.status != 200:
                raise RuntimeError(f"POST /v1/traces answered {resp.status}")
    finally:
        conn.close()


def _send_grpc(port: int, requests: list[bytes], next_index: Any, latencies: list[float]) -> None:
    import grpc
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    options = [("grpc.max_send_message_length", 64 << 20)]
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
        # TraceServiceStub.Export with the request serializer left out: the bytes go as they are.
        export = channel.unary_unary(
            EXPORT_METHOD,
            request_serializer=None,
            response_deserializer=ExportTraceServiceResponse.FromString,
        )
        for i in next_index:
            if i >= len(requests):
                return
            t = time.perf_counter()
            export(requests[i], timeout=120)
            latencies.append(time.perf_counter() - t)


def _percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def phase_end_to_end(
    protocol: str,
    requests: list[bytes],
    total_spans: int,
    clients: int,
    workdir: Path,
    *,
    timeout: float,
    stop_timeout: float,
    profile: bool = False,
) -> dict[str, Any]:
    data_dir = workdir / f"collector-{protocol}"
    collector = CollectorProcess(data_dir)
    spy = None
    spy_out = workdir / f"py-spy-{protocol}.txt"
    try:
        collector.wait_ready()
        port = collector.http_port if protocol == "http" else collector.grpc_port
        sender = _send_http if protocol == "http" else _send_grpc
        latencies: list[float] = []
        next_index = itertools.count()  # shared; next() on a count is atomic under the GIL
        errors: list[BaseException] = []

        def client() -> None:
            try:
                sender(port, requests, next_index, latencies)
            except BaseException as exc:
                errors.append(exc)

        if profile:
            spy = _start_py_spy(collector.pid, spy_out)
        cpu0 = _cpu_seconds(collector.pid)
        threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
        t0 = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        acked_s = time.perf_counter() - t0
        if errors:
            raise RuntimeError(f"a client failed: {errors[0]!r}")
        # Cheap polling of the writer's counter, then the authoritative count() from the store.
        deadline = t0 + timeout
        stored = 0
        while time.perf_counter() < deadline:
            if collector.status().get("stored_spans", 0) >= total_spans:
                stored = collector.count_spans()
                if stored >= total_spans:
                    break
            time.sleep(0.05)
        stored_s = time.perf_counter() - t0
        cpu = _cpu_seconds(collector.pid) - cpu0
        collector_profile = _stop_py_spy(spy, spy_out)
        spy = None
        status = collector.status()
        rss = _proc_status(collector.pid)
    finally:
        if spy is not None:
            _stop_py_spy(spy, spy_out)
        stop_spy = _start_py_spy(collector.pid, workdir / "py-spy-stop.txt") if profile else None
        rc, stop_s = collector.stop(stop_timeout)
        stop_profile = _stop_py_spy(stop_spy, workdir / "py-spy-stop.txt")
    pending = status.get("traces_pending_assembly", 0)
    result = {
        "protocol": protocol,
        "clients": clients,
        "spans": total_spans,
        "stored": stored,
        "acked_s": acked_s,
        "stored_s": stored_s,
        "ack_spans_per_s": total_spans / acked_s,
        "spans_per_s": total_spans / stored_s if stored >= total_spans else 0.0,
        "latency_p50_ms": 1000 * _percentile(latencies, 50),
        "latency_p99_ms": 1000 * _percentile(latencies, 99),
        "collector_cpu_s": cpu,
        "collector_rss_peak_mib": rss.get("VmHWM", 0),
        "status_at_end": status,
        "stop_s": stop_s,
        "stop_ms_per_pending_trace": 1000 * stop_s / pending if pending else None,
        "exit_code": rc,
        "collector_profile": collector_profile,
        "collector_stop_profile": stop_profile,
    }
    shutil.rmtree(data_dir, ignore_errors=True)
    return result


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------


def _rate(spans: int, seconds: float) -> float:
    return spans / seconds if seconds > 0 else float("inf")


def summarize(results: dict[str, Any]) -> dict[str, float]:
    s, d = results["stages"], results["direct"]
    n = s["spans"]
    combined = s["decode_s"] + s["normalize_s"] + s["merge_s"] + s["write_s"]
    summary = {
        "decode": _rate(n, s["decode_s"]),
        "normalize": _rate(n, s["normalize_s"] + s["merge_s"]),
        "write": _rate(n, s["write_s"]),
        "write_serialize_spans": _rate(n, s["write_serialize_spans_s"]),
        "combined": _rate(n, combined),
        "direct_send_insert": _rate(d["spans"], d["send_insert_s"]),
        "direct_connect_insert": _rate(d["spans"], d["connect_insert_s"]),
    }
    for e in results["end_to_end"]:
        summary[f"e2e_{e['protocol']}"] = e["spans_per_s"]
    return summary


def _profile_lines(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    s = results["stages"]
    for key, title in (("profile_normalize", "normalize"), ("profile_write", "write")):
        if s.get(key):
            lines += ["", f"cProfile, {title} stage (own time, top functions):", ""]
            lines += ["| function | calls | own s | cum s | share of own time |", "|---|---:|---:|---:|---:|"]
            lines += [
                f"| `{r['function']}` | {r['calls']:,} | {r['own_s']:.2f} | {r['cum_s']:.2f} | "
                f"{r['own_share']:.0%} |"
                for r in s[key]
            ]
    for e, key, what in itertools.chain.from_iterable(
        ((e, "collector_profile", "run"), (e, "collector_stop_profile", "SIGTERM -> exit"))
        for e in results["end_to_end"]
    ):
        prof = e.get(key)
        if not prof:
            continue
        lines += [
            "",
            f"py-spy, collector during the OTLP/{e['protocol'].upper()} {what} ({prof['samples']:,} "
            "samples of running threads):",
            "",
            "| thread | share |",
            "|---|---:|",
        ]
        lines += [f"| {name} | {share:.0%} |" for name, share in prof["threads"]]
        lines += ["", "| function (inclusive) | share |", "|---|---:|"]
        lines += [f"| `{name}` | {share:.0%} |" for name, share in prof["inclusive"]]
        lines += ["", "| function (own) | share |", "|---|---:|"]
        lines += [f"| `{name}` | {share:.0%} |" for name, share in prof["own"]]
    return lines


def render(results: dict[str, Any]) -> str:
    s, d, summary = results["stages"], results["direct"], results["summary"]
    n = s["spans"]
    fmt = "{:,.0f}".format
    combined_s = s["decode_s"] + s["normalize_s"] + s["merge_s"] + s["write_s"]
    lines = [
        f"workload: {results['workload']}; {n:,} spans in {s['requests']} requests "
        f"({s['bytes'] / 2**20:.1f} MiB protobuf, {s['bytes'] / n:,.0f} B/span); "
        f"{s['content_rows']:,} distinct message bodies; store batches of {results['batch_rows']:,} rows; "
        f"load average before/after: {results['loadavg_before']} / {results['loadavg_after']}",
        "",
        "| stage (in-process, 1 thread, the collector's code) | seconds | spans/s |",
        "|---|---:|---:|",
        f"| decode `ExportTraceServiceRequest.FromString` | {s['decode_s']:.2f} | {fmt(summary['decode'])} |",
        f"| normalize `normalize_traces` (+ batch merge) | {s['normalize_s'] + s['merge_s']:.2f} | "
        f"{fmt(summary['normalize'])} |",
        f"| write `write_batch` (rows -> JSONEachRow -> chdb) | {s['write_s']:.2f} | "
        f"{fmt(summary['write'])} |",
        f"| &nbsp;&nbsp;(span rows -> JSON text alone) | {s['write_serialize_spans_s']:.2f} | "
        f"{fmt(summary['write_serialize_spans'])} |",
        f"| **decode + normalize + write** | {combined_s:.2f} | **{fmt(summary['combined'])}** |",
        "",
        f"| direct insert, same rows pre-serialized ({d['json_bytes'] / 2**20:.0f} MiB JSONEachRow: "
        f"{n:,} spans + {s['content_rows']:,} message bodies) | seconds | spans/s |",
        "|---|---:|---:|",
        f"| `chdb.connect(path).send_insert(..., 'JSONEachRow')` | {d['send_insert_s']:.2f} | "
        f"{fmt(summary['direct_send_insert'])} |",
        f"| `Store.insert_json_lines` (trajotel's store path) | {d['connect_insert_s']:.2f} | "
        f"{fmt(summary['direct_connect_insert'])} |",
        "",
        "| end to end (real collector) | clients | all acked | all stored | **spans/s stored** "
        "| ack p50 | ack p99 | collector CPU | collector peak RSS | SIGTERM -> exit |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for e in results["end_to_end"]:
        pending = e["status_at_end"].get("traces_pending_assembly", 0)
        lines.append(
            f"| OTLP/{e['protocol'].upper()} | {e['clients']} | {e['acked_s']:.1f} s | "
            f"{e['stored_s']:.1f} s | **{fmt(e['spans_per_s'])}** | {e['latency_p50_ms']:.0f} ms | "
            f"{e['latency_p99_ms']:.0f} ms | {e['collector_cpu_s']:.1f} s | "
            f"{e['collector_rss_peak_mib']} MiB | "
            f"{e['exit_code']} after {e['stop_s']:.0f} s ({pending:,} traces pending assembly) |"
        )
    best = max((e["spans_per_s"] for e in results["end_to_end"]), default=0.0)
    http_e2e = summary.get("e2e_http", 0.0)
    ceiling = max(summary["direct_send_insert"], summary["direct_connect_insert"])
    lines += [
        "",
        f"trajotel end to end (HTTP) / direct insert: **{http_e2e / ceiling:.2f}** "
        f"({fmt(http_e2e)} / {fmt(ceiling)} spans/s, the faster direct path)",
        f"peak RSS: stages process {s['rss_peak_mib']} MiB, direct-insert process {d['rss_peak_mib']} MiB, "
        f"benchmark client (holds all requests) {results['client_rss_peak_mib']} MiB",
        f"target {TARGET_SPANS_PER_S:,} spans/s end to end: "
        + ("**met**" if best >= TARGET_SPANS_PER_S else f"**not met** (best {fmt(best)} spans/s)"),
    ]
    lines += _profile_lines(results)
    return "\n".join(lines)


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--spans", type=int, default=None, help="spans to send (default 20,480; 102,400 with --small)"
    )
    parser.add_argument("--clients", type=int, default=2, help="client threads (default 2)")
    parser.add_argument("--small", action="store_true", help="plain spans with 4 attributes")
    parser.add_argument("--turns", type=int, default=10, help="chat turns per agent run (default 10)")
    parser.add_argument("--batch", type=int, default=512, help="spans per OTLP request (default 512)")
    parser.add_argument("--batch-rows", type=int, default=20_000, help="store batch rows (writer.batch_rows)")
    parser.add_argument("--no-grpc", action="store_true", help="skip the OTLP/gRPC run")
    parser.add_argument("--timeout", type=float, default=240.0, help="per end-to-end run, seconds")
    parser.add_argument(
        "--stop-timeout", type=float, default=240.0, help="wait this long for the collector to exit"
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the stages, py-spy the collector (HTTP run)"
    )
    parser.add_argument("--json", metavar="OUT", help="also write all results as JSON")
    parser.add_argument("--_phase", help=argparse.SUPPRESS)
    parser.add_argument("--_requests", help=argparse.SUPPRESS)
    parser.add_argument("--_store", help=argparse.SUPPRESS)
    parser.add_argument("--_out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args._phase:  # child process
        fn = {"stages": phase_stages, "direct": phase_direct}[args._phase]
        result = fn(Path(args._requests), Path(args._store), args.batch_rows, args.profile)
        Path(args._out).write_text(json.dumps(result))
        return 0

    total = args.spans or (102_400 if args.small else 20_480)
    workdir = Path(tempfile.mkdtemp(prefix="trajotel-bench-"))
    started = time.perf_counter()
    try:
        results: dict[str, Any] = {
            "command": " ".join(["python", "bench/ingest.py", *(argv if argv is not None else sys.argv[1:])]),
            "machine": machine_facts(),
            "loadavg_before": _loadavg(),
            "batch_rows": args.batch_rows,
        }
        t = time.perf_counter()
        requests, counts = build_requests(total, small=args.small, turns=args.turns, batch=args.batch)
        results["generate_s"] = time.perf_counter() - t
        total = sum(counts)
        results["workload"] = (
            "plain spans with 4 attributes (traces of 10)"
            if args.small
            else f"agent runs of {args.turns} turns ({2 * args.turns} spans each)"
        )
        print(
            f"generated {total:,} spans in {len(requests)} requests "
            f"({sum(map(len, requests)) / 2**20:.1f} MiB) in {results['generate_s']:.1f} s",
            file=sys.stderr,
        )
        requests_file = workdir / "requests.bin"
        save_requests(requests_file, requests)

        print("stages ...", file=sys.stderr)
        results["stages"] = run_phase("stages", requests_file, workdir, args.batch_rows, args.profile)
        print("direct insert ...", file=sys.stderr)
        results["direct"] = run_phase("direct", requests_file, workdir, args.batch_rows)
        results["end_to_end"] = []
        for protocol in ("http",) if args.no_grpc else ("http", "grpc"):
            print(f"end to end over {protocol} ...", file=sys.stderr)
            results["end_to_end"].append(
                phase_end_to_end(
                    protocol,
                    requests,
                    total,
                    args.clients,
                    workdir,
                    timeout=args.timeout,
                    stop_timeout=args.stop_timeout,
                    profile=args.profile and protocol == "http",
                )
            )
        results["client_rss_peak_mib"] = _proc_status().get("VmHWM", 0)
        results["loadavg_after"] = _loadavg()
        results["wall_s"] = time.perf_counter() - started
        results["summary"] = summarize(results)
        print(render(results))
        print(f"(whole run {results['wall_s']:.0f} s)", file=sys.stderr)
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2))
        bad = [e for e in results["end_to_end"] if e["exit_code"] != 0 or e["stored"] < total]
        return 1 if bad else 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
