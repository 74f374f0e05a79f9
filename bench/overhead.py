"""Latency an instrumentation adds to one openai ``chat.completions.create`` call, in process.

    .venv/bin/python bench/overhead.py [--calls N] [--warmup W] [--rounds R] [--json OUT]
                                       [--conditions trajotel openai-v2 ...]
                                       [--profile CONDITION]

The client talks to an httpx2 ``MockTransport`` that returns canned bytes (a chat completion with
a tool call, or the SSE chunks of a streamed answer with usage), so no network or server time is
in the numbers: what remains is the SDK plus the instrumentation. Each instrumentation runs in
its own fresh subprocess so instrumentations never stack: trajotel, and each peer from its
overlay venv (``bench/peers.py`` builds them from PyPI). Every one exports to the same pipeline,
a ``BatchSpanProcessor`` with an exporter that only counts the spans, and records message
content (the peers' content switches are on).

Inside a process, instrumented and uninstrumented calls alternate call by call: the
instrumentation's patches (found by comparing the SDK's classes before and after
``instrument()``) are set and unset between calls, so both states share the process (memory
layout, CPU, neighbours) and its warm caches; comparing separate processes did not work, their
baselines differed by more than the overhead measured. After ``--warmup`` discarded calls in
each state, ``--calls`` calls are timed in each, per call both wall clock and the calling
thread's CPU time (which other processes on a shared machine do not inflate). ``--rounds``
repeats every instrumentation in a new process, the order rotated each round. Reported per mode
(non-stream, stream) and instrumentation: the added time, i.e. the instrumented median (and p99)
minus the uninstrumented one of the same process, and that added CPU time as a percentage of
the process's uninstrumented call (which the host's other load, slowing whole processes, does
not move), each the median over rounds; the ratios of trajotel's figures to each peer's; spans
per call and what one span carried
(attributes, bytes), which proves each instrumentation really recorded, content included.
Results: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import pstats
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import peers

MAIN_PYTHON = Path(sys.executable)
MODES = ("non-stream", "stream")
CONDITIONS = ("trajotel", *peers.PEERS)

# One agent turn: a system prompt, the task, a tool call and its result, two tool definitions.
MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant. Use the tools to answer. " * 4},
    {"role": "user", "content": "What is the weather in Paris, and what is 21 + 21?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": '{"condition": "sunny", "temperature_c": 22}'},
]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": f"The {name} tool.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    for name in ("get_weather", "add")
]
USAGE = {"prompt_tokens": 120, "completion_tokens": 24, "total_tokens": 144}
COMPLETION = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-4o-mini-2024-07-18",
    "system_fingerprint": "fp_bench",
    "choices": [
        {
            "index": 0,
            "finish_reason": "tool_calls",
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "add", "arguments": '{"a": 21, "b": 21}'},
                    }
                ],
            },
        }
    ],
    "usage": USAGE,
}
ANSWER_WORDS = "It is sunny and 22 C in Paris , and 21 + 21 = 42 . Anything else I can help with today ?"


def _sse_body() -> bytes:
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000}
    base["model"] = "gpt-4o-mini-2024-07-18"
    chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
    for word in ANSWER_WORDS.split():
        chunks.append({**base, "choices": [{"index": 0, "delta": {"content": word + " "}}]})
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    chunks.append({**base, "choices": [], "usage": USAGE})
    events = [f"data: {json.dumps(chunk)}\n\n" for chunk in chunks] + ["data: [DONE]\n\n"]
    return "".join(events).encode()


# --- the child: one condition, one process ------------------------------------------------------


def _client() -> Any:
    import httpx2
    import openai

    completion = json.dumps(COMPLETION).encode()
    sse = _sse_body()

    def handle(request: httpx2.Request) -> httpx2.Response:
        if json.loads(request.content).get("stream"):
            return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=sse)
        return httpx2.Response(200, headers={"content-type": "application/json"}, content=completion)

    http_client = httpx2.Client(transport=httpx2.MockTransport(handle))
    return openai.OpenAI(
        base_url="http://bench.invalid/v1", api_key="bench", max_retries=0, http_client=http_client
    )


class _Exported:
    """What the exporter saw: span count, and the attributes of the last span (what was recorded)."""

    def __init__(self) -> None:
        self.spans = 0
        self.last_attributes: dict[str, Any] = {}

    def describe(self) -> dict[str, Any]:
        values = self.last_attributes.values()
        return {
            "attributes_per_span": len(self.last_attributes),
            "attribute_bytes_per_span": sum(len(str(value)) for value in values),
            "content_recorded": any("message" in key or "content" in key for key in self.last_attributes),
        }


def _pipeline() -> tuple[Any, _Exported]:
    """The same span pipeline for every condition: batch processor, exporter that counts."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    exported = _Exported()

    class CountingExporter(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            exported.spans += len(spans)
            if spans:
                exported.last_attributes = dict(spans[-1].attributes or {})
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(CountingExporter(), max_queue_size=65536))
    trace.set_tracer_provider(provider)  # for instrumentations that ignore tracer_provider=
    return provider, exported


def _instrumentor(condition: str) -> Any:
    if condition == "trajotel":
        spec = "trajotel.instrument.openai:OpenAIInstrumentor"
    else:
        spec = peers.PEERS[condition].instrumentor
    module, _, name = spec.partition(":")
    return getattr(__import__(module, fromlist=[name]), name)()


def _one_call(client: Any, stream: bool) -> None:
    if stream:
        chunks = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            tools=TOOLS,
            stream=True,
            stream_options={"include_usage": True},
        )
        for _ in chunks:
            pass
    else:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, tools=TOOLS)


class _Samples:
    """Per-call wall-clock and calling-thread CPU times, in ns."""

    def __init__(self) -> None:
        self.wall: list[int] = []
        self.cpu: list[int] = []

    def measure(self, client: Any, stream: bool, calls: int, profiler: cProfile.Profile | None) -> None:
        for _ in range(calls):
            if profiler is not None:
                profiler.enable()
            started, started_cpu = time.perf_counter_ns(), time.thread_time_ns()
            _one_call(client, stream)
            self.cpu.append(time.thread_time_ns() - started_cpu)
            self.wall.append(time.perf_counter_ns() - started)
            if profiler is not None:
                profiler.disable()

    def summary(self) -> dict[str, float]:
        result = {}
        for clock, samples in (("cpu", self.cpu), ("wall", self.wall)):
            result[f"{clock}_median_us"] = statistics.median(samples) / 1000
            result[f"{clock}_p99_us"] = statistics.quantiles(samples, n=100)[98] / 1000
        return result


# Where the instrumentations patch the sync chat call path (the classes, and what they inherit).
PATCHABLE = (
    "openai.resources.chat.completions:Completions",
    "openai:OpenAI",
    "openai._base_client:SyncAPIClient",
    "openai._base_client:BaseClient",
    "httpx2:Client",
)


class _Switch:
    """Turns an instrumentation's patches on and off by setting the patched class attributes.

    Found by comparing the ``PATCHABLE`` classes before and after ``instrument()``. Switching is
    two ``setattr`` per patch, so instrumented and uninstrumented calls can alternate call by
    call, sharing the process (memory layout, CPU, neighbours) and its warm caches. Comparing
    separate processes did not work: their baselines differed by more than the overhead.
    """

    def __init__(self, instrument: Any) -> None:
        names = (spec.partition(":") for spec in PATCHABLE)
        classes = [getattr(__import__(module, fromlist=[name]), name) for module, _, name in names]
        before = {(cls, name): value for cls in classes for name, value in vars(cls).items()}
        instrument()
        self.patches = [
            (cls, name, before.get((cls, name), _ABSENT), value)
            for cls in classes
            for name, value in vars(cls).items()
            if before.get((cls, name), _ABSENT) is not value
        ]
        if not self.patches:
            raise RuntimeError("the instrumentation patched none of " + ", ".join(PATCHABLE))
        self.on = True

    def __call__(self, on: bool) -> None:
        if on == self.on:
            return
        self.on = on
        for cls, name, original, patched in self.patches:
            value = patched if on else original
            if value is _ABSENT:
                delattr(cls, name)
            else:
                setattr(cls, name, value)


_ABSENT = object()


def child(condition: str, mode: str, calls: int, warmup: int, profile: bool) -> dict[str, Any]:
    """Time ``calls`` instrumented and ``calls`` uninstrumented calls in this one process.

    The two states alternate call by call (``_Switch``), the order flipped every pair. A span
    started while switched off would mean a patch outside ``PATCHABLE``: that fails the run.
    """
    from opentelemetry.sdk.trace import SpanProcessor

    provider, exported = _pipeline()
    started = {True: 0, False: 0}
    state = {"on": False}

    class StartCounter(SpanProcessor):
        def on_start(self, span: Any, parent_context: Any = None) -> None:
            started[state["on"]] += 1

    provider.add_span_processor(StartCounter())
    switch = _Switch(lambda: _instrumentor(condition).instrument(tracer_provider=provider))
    client = _client()
    stream = mode == "stream"
    samples = {True: _Samples(), False: _Samples()}
    profiler = cProfile.Profile() if profile else None
    for index in range(2 * warmup):
        switch(index % 2 == 0)
        _one_call(client, stream)
    gc.collect()
    started.update({True: 0, False: 0})
    for index in range(calls):
        first = index % 2 == 0
        for on in (first, not first):
            switch(on)
            state["on"] = on
            samples[on].measure(client, stream, 1, profiler if on else None)
    switch(True)
    if started[False]:
        raise RuntimeError(f"{condition}: {started[False]} spans started while switched off")
    on_summary, off_summary = samples[True].summary(), samples[False].summary()
    provider.force_flush()
    result = {
        "condition": condition,
        "mode": mode,
        "calls": calls,
        **{f"uninstrumented_{key}": value for key, value in off_summary.items()},
        **{f"added_{key}": on_summary[key] - off_summary[key] for key in on_summary},
        "spans_per_call": started[True] / calls,
        **exported.describe(),
    }
    if profiler is not None:
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("cumulative").print_stats(r"trajotel|opentelemetry|openinference|wrapt", 45)
    provider.shutdown()
    return result


# --- the parent: every condition in its own process, the table -----------------------------------


def _python(condition: str) -> Path:
    if condition in peers.PEERS:
        return peers.ensure(peers.PEERS[condition])
    return MAIN_PYTHON


def _env(condition: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRAJOTEL_", "TRACELOOP_"))}
    env["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "SPAN_ONLY"
    env["OTEL_METRICS_EXPORTER"] = "none"
    if condition in peers.PEERS:
        env.update(peers.PEERS[condition].content_env)
    return env


def run_child(condition: str, mode: str, args: argparse.Namespace, profile: bool = False) -> dict[str, Any]:
    command = [str(_python(condition)), str(Path(__file__).resolve()), "--child", condition, mode]
    command += ["--calls", str(args.calls), "--warmup", str(args.warmup)]
    if profile:
        command.append("--profile-child")
    done = subprocess.run(
        command, env=_env(condition), capture_output=True, text=True, timeout=1800, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{condition} {mode} failed:\n{done.stderr}")
    if profile:
        print(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


_STATS = ("cpu_median_us", "cpu_p99_us", "wall_median_us", "wall_p99_us")


def summarize(results: list[dict[str, Any]], conditions: list[str]) -> dict[str, dict[str, dict[str, float]]]:
    """Per mode and condition: the median over rounds (processes) of each process's added time."""
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for mode in MODES:
        summary[mode] = {}
        for condition in conditions:
            runs = [r for r in results if r["mode"] == mode and r["condition"] == condition]
            row = {f"added_{key}": statistics.median(r[f"added_{key}"] for r in runs) for key in _STATS}
            row["uninstrumented_cpu_median_us"] = statistics.median(
                r["uninstrumented_cpu_median_us"] for r in runs
            )
            # The added CPU time as a share of the same process's uninstrumented call: how fast the
            # machine ran that process (other VMs on the host) scales both, not the share.
            row["added_cpu_percent"] = statistics.median(
                100 * r["added_cpu_median_us"] / r["uninstrumented_cpu_median_us"] for r in runs
            )
            for key in ("spans_per_call", "attributes_per_span", "attribute_bytes_per_span"):
                row[key] = statistics.median(r[key] for r in runs)
            summary[mode][condition] = row
    return summary


def _ratio(ours: float | None, theirs: float) -> str:
    return f"{ours / theirs:.2f}" if ours is not None and theirs > 0 else ""


def _table(summary: dict[str, dict[str, dict[str, float]]]) -> str:
    lines = [
        "| mode | instrumentation | spans/call | attributes (bytes) | uninstrumented CPU median µs"
        " | added CPU median µs | added CPU % | added CPU p99 µs | added wall median µs"
        " | added wall p99 µs | trajotel ÷ this (added CPU %) | trajotel ÷ this (added CPU µs) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for mode, rows in summary.items():
        ours = rows.get("trajotel", {})
        for condition, row in rows.items():
            peer = condition != "trajotel"
            percent_ratio = _ratio(ours.get("added_cpu_percent"), row["added_cpu_percent"]) if peer else ""
            us_ratio = _ratio(ours.get("added_cpu_median_us"), row["added_cpu_median_us"]) if peer else ""
            lines.append(
                f"| {mode} | {condition} | {row['spans_per_call']:.0f} "
                f"| {row['attributes_per_span']:.0f} ({row['attribute_bytes_per_span']:.0f}) "
                f"| {row['uninstrumented_cpu_median_us']:.0f} "
                f"| {row['added_cpu_median_us']:+.0f} | {row['added_cpu_percent']:+.1f} "
                f"| {row['added_cpu_p99_us']:+.0f} "
                f"| {row['added_wall_median_us']:+.0f} | {row['added_wall_p99_us']:+.0f} "
                f"| {percent_ratio} | {us_ratio} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000, help="timed calls per process")
    parser.add_argument("--warmup", type=int, default=200, help="discarded calls per process")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--conditions", nargs="+", choices=CONDITIONS, default=list(CONDITIONS))
    parser.add_argument("--json", type=Path, help="write the raw per-process results here")
    parser.add_argument("--profile", choices=CONDITIONS, help="cProfile one condition (both modes)")
    parser.add_argument("--child", nargs=2, metavar=("CONDITION", "MODE"), help=argparse.SUPPRESS)
    parser.add_argument("--profile-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        condition, mode = args.child
        print(json.dumps(child(condition, mode, args.calls, args.warmup, args.profile_child)))
        return 0
    if args.profile:
        for mode in MODES:
            print(json.dumps(run_child(args.profile, mode, args, profile=True)))
        return 0

    conditions = list(args.conditions)
    results = []
    for index in range(args.rounds):
        shift = index % len(conditions)  # rotate, so no condition always runs right after another
        for condition in conditions[shift:] + conditions[:shift]:
            for mode in MODES:
                result = {**run_child(condition, mode, args), "round": index}
                results.append(result)
                figures = ", ".join(f"{key} {result['added_' + key]:+.0f}" for key in _STATS)
                print(f"round {index + 1}: {condition:13} {mode:10} added {figures}", file=sys.stderr)
    summary = summarize(results, conditions)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"runs": results, "summary": summary}, indent=2))
    print(_table(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
