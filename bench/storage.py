#!/usr/bin/env python
"""Storage growth benchmark (issue 4): stored bytes of tool-using agent runs in trajotel's
store against the OpenTelemetry Collector's ClickHouse exporter schema, at several run lengths.

    .venv/bin/python bench/storage.py [--turns N [N ...]] [--agents K [K ...]] [--json OUT]

For each number of concurrent agents (default 1 and 8) and run length (default 10, 50 and 100
model calls):

1. run: K coding agents on the real openai SDK, under ``opentelemetry-instrument`` (trajotel's
   distro and instrumentors, as users run it), each talk to a scripted fake LLM server for
   ``turns`` model calls. Every call re-sends the whole history (system prompt, task, each
   earlier assistant message with its tool calls, each tool result), as real agents do and as
   the instrumentation records it in ``gen_ai.input.messages``. The spans go over OTLP/HTTP to
   a real ``trajotel collector`` on a fresh embedded store; a copy of the very same OTLP
   requests (the exporter's own ``encode_spans``) is written to a file. The collector is
   stopped once every trajectory is complete.
2. measure (a child process: chdb opens one store directory per process): the store is opened,
   and the copied spans are inserted, in the same chdb session, into a database ``otel`` with
   the OpenTelemetry Collector clickhouseexporter's ``otel_traces`` schema (its DDL, engine,
   codecs and indexes, and its ``_trace_id_ts`` lookup table and materialized view), one row per
   span converted as the exporter does: every attribute into ``SpanAttributes`` as a string,
   message content inline. Bytes of every table of both databases come from ``system.parts``
   (active parts): as written, after ``OPTIMIZE TABLE ... FINAL`` (merged, older trajectory
   versions collapsed: the headline numbers), and after a merge into wide parts (the format of
   large parts, and the only one with per-column sizes in ``system.columns``).

Texts are real: tool results are slices of Python standard-library source files and grep
output over them, assistant texts are sentences of their docstrings, so they compress like
real agent traffic, not like random or repeated filler. Results: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import itertools
import json
import random
import re
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.support: the same agent-running helpers the e2e tests use

RESULTS = ROOT / "bench" / "results" / "storage.json"
DEFAULT_TURNS = (10, 50, 100)
DEFAULT_AGENTS = (1, 8)
TARGET_RATIO = 20.0
TARGET_TURNS = 50
MODEL = "storage-bench"
AGENT = "storage-bench-agent"
SEED = 4

# ---------------------------------------------------------------------------------------------
# workload: real text from the standard library
# ---------------------------------------------------------------------------------------------

STDLIB = Path(sysconfig.get_paths()["stdlib"])
CORPUS = (
    "json/decoder.py",
    "json/encoder.py",
    "argparse.py",
    "textwrap.py",
    "shutil.py",
    "tempfile.py",
    "dataclasses.py",
    "csv.py",
    "logging/handlers.py",
    "http/client.py",
)

SYSTEM_PROMPT = """You are a careful software engineering agent working in a Python repository.
You fix bugs and implement small features by reading code, searching it, editing files and
running the tests. Work in small steps and explain each step in one or two sentences before you
call a tool.

Rules:
- Read the relevant code before you change it; never guess an API you have not seen.
- Prefer the smallest change that fixes the problem. Keep the existing style and naming.
- After every edit, run the narrowest test target that covers it, then the wider suite.
- When a test fails, read the failure, find the cause, and fix the cause, not the test.
- Never delete or skip tests to make a suite pass. Never commit; the user reviews the diff.
- Quote file paths relative to the repository root. Line numbers are 1-based.
- If a tool fails, say what failed and try another way; after three failures, stop and ask.
- Finish with a short summary: what was wrong, what you changed, which tests prove it.

Tools: read_file reads a range of lines; search_code searches the repository for a regular
expression and returns matching lines with their location; edit_file replaces an exact snippet
of a file with new text; run_tests runs pytest on a target and returns its report."""

TASK = (
    "The JSON decoder in our vendored copy of the standard library reports the wrong column for "
    "errors inside nested arrays, and the CSV sniffer sometimes picks the quote character as the "
    "delimiter. Find both problems, fix them with the smallest change, and make sure the test "
    "suite still passes. Explain what you changed."
)


def _function(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """A chat completions tool definition."""
    parameters = {"type": "object", "properties": properties, "required": required}
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": parameters},
    }


def _param(kind: str, description: str = "") -> dict[str, str]:
    return {"type": kind, "description": description} if description else {"type": kind}


TOOL_DEFINITIONS = [
    _function(
        "read_file",
        "Read lines start..end (1-based, inclusive) of a file in the repository.",
        {
            "path": _param("string", "Path relative to the repository root"),
            "start": _param("integer", "First line, 1-based"),
            "end": _param("integer", "Last line, inclusive"),
        },
        ["path", "start", "end"],
    ),
    _function(
        "search_code",
        "Search the repository for a regular expression; returns path:line: text.",
        {
            "pattern": _param("string", "A Python regular expression"),
            "max_results": _param("integer", "At most this many matches"),
        },
        ["pattern"],
    ),
    _function(
        "edit_file",
        "Replace an exact snippet of a file with new text; fails if it is absent.",
        {
            "path": _param("string"),
            "old": _param("string", "The exact text to replace"),
            "new": _param("string", "The replacement"),
        },
        ["path", "old", "new"],
    ),
    _function(
        "run_tests",
        "Run pytest on a target (file, directory or node id) and return its report.",
        {"target": _param("string")},
        ["target"],
    ),
]


def _lines(path: str) -> list[str]:
    return (STDLIB / path).read_text(encoding="utf-8").splitlines()


def _sentences() -> list[str]:
    """Docstring sentences of the corpus: real English prose of varied length."""
    out: list[str] = []
    for path in CORPUS:
        tree = ast.parse((STDLIB / path).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node) or ""
                text = " ".join(doc.split())
                out += [s for s in re.split(r"(?<=[.!?])\s+", text) if 30 <= len(s) <= 400]
    return out


def _prose(rng: random.Random, sentences: list[str], low: int, high: int) -> str:
    """Consecutive docstring sentences, ``low``..``high`` characters."""
    target = rng.randint(low, high)
    i = rng.randrange(len(sentences))
    out = ""
    while len(out) < target:
        out += sentences[i % len(sentences)] + " "
        i += 1
    return out.strip()


def _identifiers() -> list[str]:
    names: set[str] = set()
    for path in CORPUS:
        names.update(re.findall(r"^\s*def (\w{5,})\(", (STDLIB / path).read_text(encoding="utf-8"), re.M))
    return sorted(names)


def _tool_call(rng: random.Random, name: str, names: list[str]) -> tuple[str, dict[str, Any]]:
    """What the model asks for: arguments that make the tool return real text."""
    path = rng.choice(CORPUS)
    if name == "read_file":
        start = rng.randint(1, max(1, len(_lines(path)) - 80))
        return name, {"path": path, "start": start, "end": start + rng.randint(30, 70)}
    if name == "search_code":
        return name, {"pattern": rf"\b{rng.choice(names)}\b", "max_results": 20}
    if name == "edit_file":
        lines = _lines(path)
        start = rng.randint(1, max(1, len(lines) - 20))
        old = "\n".join(lines[start : start + rng.randint(4, 12)])
        new = old.replace("    ", "        ", 1) + "\n    # checked: see the failing case above"
        return name, {"path": path, "old": old, "new": new}
    return name, {"target": f"tests/test_{Path(path).stem}.py"}


def scenario(turns: int, seed: int = SEED) -> list[Any]:
    """The model's side of the run, for the fake LLM server: ``turns - 1`` steps of a short
    explanation plus tool calls (two calls every fifth step), then a final answer."""
    from trajotel.testing.fake_llm import Step

    rng = random.Random(seed)
    sentences, names = _sentences(), _identifiers()
    steps = []
    for turn in range(turns - 1):
        picks = rng.choices(("read_file", "search_code", "edit_file", "run_tests"), (40, 25, 20, 15))
        picks += ["search_code"] if turn % 5 == 4 else []
        calls = tuple(_tool_call(rng, name, names) for name in picks)
        steps.append(Step(content=_prose(rng, sentences, 120, 600), tool_calls=calls))
    steps.append(Step.text(_prose(rng, sentences, 400, 1200)))
    return steps


# The tools: deterministic functions of their arguments over the corpus.


def read_file(path: str, start: int, end: int) -> str:
    lines = _lines(path)
    return "\n".join(f"{n:5d}  {lines[n - 1]}" for n in range(start, min(end, len(lines)) + 1))


def search_code(pattern: str, max_results: int = 20) -> str:
    regex = re.compile(pattern)
    hits = [
        f"{path}:{n}: {line.strip()}"
        for path in CORPUS
        for n, line in enumerate(_lines(path), 1)
        if regex.search(line)
    ]
    more = f"\n... {len(hits) - max_results} more matches" if len(hits) > max_results else ""
    return "\n".join(hits[:max_results]) + more


def edit_file(path: str, old: str, new: str) -> str:
    if old not in "\n".join(_lines(path)):
        raise ValueError(f"snippet not found in {path}")
    removed, added = old.count("\n") + 1, new.count("\n") + 1
    return f"Edited {path}: replaced {removed} lines with {added} lines."


def run_tests(target: str) -> str:
    module = Path(target).stem.removeprefix("test_")
    path = next(p for p in CORPUS if Path(p).stem == module)
    names = re.findall(r"^\s*def (\w+)\(", (STDLIB / path).read_text(encoding="utf-8"), re.M)
    lines = [f"{target}::test_{name} PASSED" for name in names[:40]]
    return (
        "============================= test session starts ==============================\n"
        f"collected {len(lines)} items\n\n" + "\n".join(lines) + "\n\n"
        f"============================== {len(lines)} passed in 0.42s =============================="
    )


# ---------------------------------------------------------------------------------------------
# the agent program (a subprocess under opentelemetry-instrument)
# ---------------------------------------------------------------------------------------------


class OtlpFileExporter:
    """A span exporter that appends the OTLP request the OTLP exporters would send for these
    spans (the SDK's own ``encode_spans``), length-prefixed, to a file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def export(self, spans: Any) -> Any:
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
        from opentelemetry.sdk.trace.export import SpanExportResult

        data = encode_spans(spans).SerializeToString()
        with open(self.path, "ab") as fh:
            fh.write(len(data).to_bytes(4, "little") + data)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def iter_spans(requests: list[bytes]) -> Iterator[tuple[Any, Any, Any]]:
    """(resource_spans, scope_spans, span) of every span in these OTLP requests."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    for request in requests:
        for resource_spans in ExportTraceServiceRequest.FromString(request).resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    yield resource_spans, scope_spans, span


def read_requests(path: Path) -> Iterator[bytes]:
    data, pos = path.read_bytes(), 0
    while pos < len(data):
        size = int.from_bytes(data[pos : pos + 4], "little")
        yield data[pos + 4 : pos + 4 + size]
        pos += 4 + size


def agent_main(copy_path: Path, index: int, max_turns: int) -> None:
    """Agent ``index`` of a run (its ticket number; its fake LLM server scripts the rest)."""
    import openai
    from opentelemetry import trace
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    import trajotel

    trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(OtlpFileExporter(copy_path)))
    tools = {fn.__name__: trajotel.tool(fn) for fn in (read_file, search_code, edit_file, run_tests)}
    client = openai.OpenAI()  # OPENAI_BASE_URL / OPENAI_API_KEY from the environment
    task = f"Ticket #{1000 + index}. {TASK}"
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": task},
    ]
    with trajotel.trajectory(task=task, agent=AGENT) as run:
        for _ in range(max_turns):
            response = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOL_DEFINITIONS)
            message = response.choices[0].message
            messages.append(message.model_dump(exclude_none=True, exclude_unset=True))
            if not message.tool_calls:
                break
            for call in message.tool_calls:
                with trajotel.tool_call(call.id):
                    result = tools[call.function.name](**json.loads(call.function.arguments))
                messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
        run.outcome("success")


def run_agents(turns: int, agents: int, run_dir: Path) -> dict[str, Any]:
    """``agents`` concurrent agent runs of ``turns`` model calls each into a fresh collector
    (store in ``run_dir/data``, OTLP copies in ``run_dir/otlp``); returns facts about the runs.

    Each agent has its own fake LLM server with its own scenario: the fake picks a scenario by
    model name, and one model name for all keeps the span names equal, so concurrent agents'
    spans interleave in ``otel_traces``'s sort order as they do in a real deployment."""
    from trajotel.testing.collector_process import CollectorProcess
    from trajotel.testing.fake_llm import FakeLLMServer

    from tests.support.agent_runs import COLLECTOR_ENV, OPENTELEMETRY_INSTRUMENT, agent_env, wait_for
    from tests.support.agent_runs import run_agent as run_program

    (run_dir / "otlp").mkdir(parents=True)
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        fakes = [
            stack.enter_context(FakeLLMServer({MODEL: scenario(turns, SEED + i)})) for i in range(agents)
        ]
        collector = stack.enter_context(CollectorProcess(run_dir / "data", env=COLLECTOR_ENV))
        agent = [OPENTELEMETRY_INSTRUMENT, sys.executable, __file__, "--_max-turns", str(turns)]
        runs = [
            (
                [*agent, "--_agent", str(run_dir / "otlp" / f"{i}.bin"), "--_index", str(i)],
                agent_env(collector, fake),
            )
            for i, fake in enumerate(fakes)
        ]
        with ThreadPoolExecutor(agents) as pool:
            list(pool.map(lambda run: run_program(*run), runs))
        sql = "SELECT turn_count FROM trajectories WHERE status = 'complete'"
        done = wait_for(
            lambda: len(rows := collector.query(sql)) == agents and rows, what="complete trajectories"
        )
        if any(row["turn_count"] != turns for row in done):
            raise RuntimeError(f"expected {agents} trajectories of {turns} turns, got {done}")
        assert collector.stop() == 0, collector.log()
    return {"turns": turns, "agents": agents, "run_s": round(time.perf_counter() - started, 1)}


# ---------------------------------------------------------------------------------------------
# the peer: the OpenTelemetry Collector's clickhouseexporter
# ---------------------------------------------------------------------------------------------

# open-telemetry/opentelemetry-collector-contrib exporter/clickhouseexporter/internal/sqltemplates/
# traces_table.sql (commit f92a5763), traces_id_ts_lookup_table.sql and _mv.sql, with the
# exporter's defaults: database otel, table otel_traces, ENGINE MergeTree, no TTL.
OTEL_TRACES_DDL = (
    """CREATE TABLE IF NOT EXISTS otel.otel_traces (
    Timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Duration UInt64 CODEC(ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    Events Nested (Timestamp DateTime64(9), Name LowCardinality(String),
        Attributes Map(LowCardinality(String), String)) CODEC(ZSTD(1)),
    Links Nested (TraceId String, SpanId String, TraceState String,
        Attributes Map(LowCardinality(String), String)) CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp))
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1""",
    """CREATE TABLE IF NOT EXISTS otel.otel_traces_trace_id_ts (
    TraceId String CODEC(ZSTD(1)),
    Start DateTime CODEC(Delta, ZSTD(1)),
    End DateTime CODEC(Delta, ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.01) GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY toDate(Start)
ORDER BY (TraceId, Start)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1""",
    """CREATE MATERIALIZED VIEW IF NOT EXISTS otel.otel_traces_trace_id_ts_mv
TO otel.otel_traces_trace_id_ts
AS SELECT TraceId, min(Timestamp) AS Start, max(Timestamp) AS End
FROM otel.otel_traces WHERE TraceId != '' GROUP BY TraceId""",
)

_SPAN_KINDS = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
_STATUS_CODES = ("UNSET", "OK", "ERROR")


def otel_traces_rows(requests: list[bytes]) -> list[dict[str, Any]]:
    """The rows the clickhouseexporter inserts for these OTLP requests (exporter_traces.go), in
    the order an exporter receives concurrent agents' spans: by end time."""
    from trajotel.normalize.values import attributes_to_map, ns_to_text

    rows = []
    for resource_spans, scope_spans, span in iter_spans(requests):
        resource = attributes_to_map(resource_spans.resource.attributes)
        row = {
            "Timestamp": ns_to_text(span.start_time_unix_nano),
            "TraceId": span.trace_id.hex(),
            "SpanId": span.span_id.hex(),
            "ParentSpanId": span.parent_span_id.hex(),
            "TraceState": span.trace_state,
            "SpanName": span.name,
            "SpanKind": f"SPAN_KIND_{_SPAN_KINDS[span.kind]}",
            "ServiceName": resource.get("service.name", ""),
            "ResourceAttributes": resource,
            "ScopeName": scope_spans.scope.name,
            "ScopeVersion": scope_spans.scope.version,
            "SpanAttributes": attributes_to_map(span.attributes),
            "Duration": span.end_time_unix_nano - span.start_time_unix_nano,
            "StatusCode": f"STATUS_CODE_{_STATUS_CODES[span.status.code]}",
            "StatusMessage": span.status.message,
            "Events.Timestamp": [ns_to_text(e.time_unix_nano) for e in span.events],
            "Events.Name": [e.name for e in span.events],
            "Events.Attributes": [attributes_to_map(e.attributes) for e in span.events],
            "Links.TraceId": [link.trace_id.hex() for link in span.links],
            "Links.SpanId": [link.span_id.hex() for link in span.links],
            "Links.TraceState": [link.trace_state for link in span.links],
            "Links.Attributes": [attributes_to_map(link.attributes) for link in span.links],
        }
        rows.append((span.end_time_unix_nano, row))
    return [row for _, row in sorted(rows, key=lambda pair: pair[0])]


# The attributes whose content trajotel stores by hash: message arrays element by element,
# system instructions and tool definitions whole.
MESSAGE_ATTRIBUTES = ("gen_ai.input.messages", "gen_ai.output.messages")
WHOLE_ATTRIBUTES = ("gen_ai.system_instructions", "gen_ai.tool.definitions")
TOOL_SPAN_ATTRIBUTES = ("gen_ai.tool.call.arguments", "gen_ai.tool.call.result")


def span_content(span: Any) -> dict[str, list[Any]]:
    """The content-addressed attributes of a span, parsed: key -> the values stored by hash."""
    out: dict[str, list[Any]] = {}
    for kv in span.attributes:
        if kv.key in MESSAGE_ATTRIBUTES:
            out[kv.key] = json.loads(kv.value.string_value)
        elif kv.key in WHOLE_ATTRIBUTES:
            out[kv.key] = [json.loads(kv.value.string_value)]
    return out


def canonical(value: Any) -> str:
    """One text per distinct JSON value, whatever its key order."""
    from trajotel.normalize.values import dumps

    return dumps(value)


def content_facts(requests: list[bytes]) -> dict[str, Any]:
    """What the spans carry: OTLP bytes; the bytes of the content attributes trajotel stores
    by hash, their values and how many are distinct; the tool spans' arguments and results."""
    spans = occurrences = content_bytes = tool_span_bytes = 0
    distinct: set[str] = set()
    for _, _, span in iter_spans(requests):
        spans += 1
        for kv in span.attributes:
            if kv.key in MESSAGE_ATTRIBUTES + WHOLE_ATTRIBUTES:
                content_bytes += len(kv.value.string_value.encode())
            elif kv.key in TOOL_SPAN_ATTRIBUTES:
                tool_span_bytes += len(kv.value.string_value.encode())
        for values in span_content(span).values():
            occurrences += len(values)
            distinct.update(canonical(v) for v in values)
    return {
        "spans": spans,
        "otlp_bytes": sum(map(len, requests)),
        "content_attribute_bytes": content_bytes,
        "content_values": occurrences,
        "distinct_values": len(distinct),
        "distinct_content_bytes": sum(len(v.encode()) for v in distinct),
        "tool_span_content_bytes": tool_span_bytes,
    }


# ---------------------------------------------------------------------------------------------
# measuring (child process)
# ---------------------------------------------------------------------------------------------

DATABASES = ("trajotel", "otel")


# Sizes of active parts per table, and per column (only wide parts report column sizes:
# compact parts, the format of small ones, keep all columns in one file).
SIZE_QUERIES = {
    "tables": "SELECT database, table, count() AS parts, sum(rows) AS rows, "
    "sum(data_compressed_bytes) AS compressed, sum(data_uncompressed_bytes) AS uncompressed, "
    "sum(bytes_on_disk) AS on_disk FROM system.parts WHERE active AND database IN ('trajotel', 'otel') "
    "GROUP BY database, table ORDER BY database, table",
    "columns": "SELECT database, table, name AS column, data_compressed_bytes AS compressed, "
    "data_uncompressed_bytes AS uncompressed FROM system.columns "
    "WHERE database IN ('trajotel', 'otel') AND data_uncompressed_bytes > 0 "
    "ORDER BY data_compressed_bytes DESC",
}


def _totals(tables: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    out = {db: {"compressed": 0, "uncompressed": 0, "on_disk": 0, "rows": 0} for db in DATABASES}
    for t in tables:
        for key in out[t["database"]]:
            out[t["database"]][key] += int(t[key])
    return out


def _snapshot(store: Any) -> dict[str, Any]:
    sizes = {name: store.query(sql).dicts() for name, sql in SIZE_QUERIES.items()}
    return sizes | {"totals": _totals(sizes["tables"])}


def _merge_all(store: Any, settings: str = "") -> None:
    """OPTIMIZE ... FINAL every MergeTree table of both databases (after ``settings``, if any)."""
    for db in DATABASES:
        tables = store.query(
            "SELECT name FROM system.tables WHERE database = {db:String} AND engine LIKE '%MergeTree'",
            {"db": db},
        )
        for (table,) in tables.rows:
            if settings:
                store.command(f"ALTER TABLE {db}.{table} MODIFY SETTING {settings}")
            store.command(f"OPTIMIZE TABLE {db}.{table} FINAL")


def measure(run_dir: Path) -> dict[str, Any]:
    """Sizes as written, merged, and merged into wide parts (one file per column, the format
    of parts above ``min_bytes_for_wide_part`` = 10 MB, so of any store in real use; also the
    only format with per-column sizes)."""
    from trajotel.store import Store

    requests = [r for path in sorted((run_dir / "otlp").iterdir()) for r in read_requests(path)]
    store_url = f"chdb://{run_dir / 'data' / 'clickhouse'}"
    store = Store.open(store_url, migrate=False)
    peer = Store.open(store_url, database="otel", migrate=False)
    try:
        for ddl in OTEL_TRACES_DDL:
            peer.command(ddl)
        peer.insert_json_rows("otel_traces", otel_traces_rows(requests))  # one insert: one exporter batch
        out = {
            "engine": store.query("SELECT version()").rows[0][0],
            "content": content_facts(requests),
            "as_written": _snapshot(store),
        }
        _merge_all(store)
        out["merged"] = _snapshot(store)
        _merge_all(store, "min_bytes_for_wide_part = 0, min_rows_for_wide_part = 0")
        out["wide"] = _snapshot(store)
        return out
    finally:
        peer.close()
        store.close()


def run_measure(run_dir: Path) -> dict[str, Any]:
    out = run_dir / "sizes.json"
    subprocess.run([sys.executable, __file__, "--_measure", str(run_dir), str(out)], check=True)
    return json.loads(out.read_text())


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------


def _mib(n: float) -> str:
    return f"{n / 2**20:,.2f}"


def _kib(n: float) -> str:
    return f"{n / 1024:,.1f}"


def _ratio(peer: float, ours: float) -> float:
    return peer / ours if ours else float("inf")


def summarize(run: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers of one run: both stores merged (steady state), and their ratios."""
    totals, content = run["merged"]["totals"], run["content"]
    peer, ours = totals["otel"], totals["trajotel"]
    return {
        "agents": run["agents"],
        "turns": run["turns"],
        "otel_compressed": peer["compressed"],
        "otel_uncompressed": peer["uncompressed"],
        "trajotel_compressed": ours["compressed"],
        "trajotel_uncompressed": ours["uncompressed"],
        "ratio_compressed": _ratio(peer["compressed"], ours["compressed"]),
        "ratio_uncompressed": _ratio(peer["uncompressed"], ours["uncompressed"]),
        "ratio_on_disk": _ratio(peer["on_disk"], ours["on_disk"]),
        # What any store that keeps each distinct message once could reach at best.
        "dedup_ceiling": _ratio(content["content_attribute_bytes"], content["distinct_content_bytes"]),
        "ratio_compressed_wide": _ratio(
            run["wide"]["totals"]["otel"]["compressed"], run["wide"]["totals"]["trajotel"]["compressed"]
        ),
    }


def _detail(run: dict[str, Any], columns: int = 14) -> list[str]:
    where = f"{run['agents']} agent(s) x {run['turns']} turns"
    lines = ["", f"Per table, {where}, merged:", ""]
    lines += [
        "| table | rows | compressed KiB | uncompressed KiB | on disk KiB |",
        "|---|---:|---:|---:|---:|",
    ]
    for t in run["merged"]["tables"]:
        lines.append(
            f"| {t['database']}.{t['table']} | {t['rows']} | {_kib(int(t['compressed']))} "
            f"| {_kib(int(t['uncompressed']))} | {_kib(int(t['on_disk']))} |"
        )
    lines += ["", f"Largest columns, {where}, merged into wide parts:", ""]
    lines += ["| column | compressed KiB | uncompressed KiB |", "|---|---:|---:|"]
    for col in run["wide"]["columns"][:columns]:
        lines.append(
            f"| {col['database']}.{col['table']}.`{col['column']}` | {_kib(int(col['compressed']))} "
            f"| {_kib(int(col['uncompressed']))} |"
        )
    return lines


def render(results: dict[str, Any]) -> str:
    lines = [
        "| agents x turns | spans | content in spans MiB | distinct content MiB | dedup ceiling "
        "| otel_traces MiB compressed / uncompressed | trajotel MiB compressed / uncompressed "
        "| ratio compressed | ratio uncompressed | ratio on disk |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in results["runs"]:
        s, c = run["summary"], run["content"]
        lines.append(
            f"| {s['agents']} x {s['turns']} | {c['spans']:,} | {_mib(c['content_attribute_bytes'])} "
            f"| {_mib(c['distinct_content_bytes'])} | {s['dedup_ceiling']:.1f}x "
            f"| {_mib(s['otel_compressed'])} / {_mib(s['otel_uncompressed'])} "
            f"| {_mib(s['trajotel_compressed'])} / {_mib(s['trajotel_uncompressed'])} "
            f"| **{s['ratio_compressed']:.1f}x** | **{s['ratio_uncompressed']:.1f}x** "
            f"| {s['ratio_on_disk']:.1f}x |"
        )
    for run in results["runs"]:
        if run["turns"] == results["detail_turns"]:
            lines += _detail(run)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, nargs="+", default=list(DEFAULT_TURNS), help="run lengths")
    parser.add_argument(
        "--json", metavar="OUT", default=str(RESULTS), help=f"raw results (default {RESULTS})"
    )
    parser.add_argument(
        "--agents", type=int, nargs="+", default=list(DEFAULT_AGENTS), help="concurrent agents per run"
    )
    parser.add_argument("--_agent", help=argparse.SUPPRESS)
    parser.add_argument("--_index", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--_max-turns", type=int, default=1000, help=argparse.SUPPRESS)
    parser.add_argument("--_measure", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args._agent:
        agent_main(Path(args._agent), args._index, args._max_turns)
        return 0
    if args._measure:
        run_dir, out = map(Path, args._measure)
        out.write_text(json.dumps(measure(run_dir), default=str))
        return 0

    results: dict[str, Any] = {
        "command": " ".join(["python", "bench/storage.py", *(argv if argv is not None else sys.argv[1:])]),
        "python": sys.version.split()[0],
        "detail_turns": TARGET_TURNS if TARGET_TURNS in args.turns else args.turns[-1],
        "runs": [],
    }
    with tempfile.TemporaryDirectory(prefix="trajotel-bench-storage-") as tmp:
        for agents, turns in itertools.product(args.agents, args.turns):
            print(f"{agents} agent(s) x {turns} turns: running ...", file=sys.stderr)
            run_dir = Path(tmp) / f"{agents}x{turns}"
            run = run_agents(turns, agents, run_dir)
            print(f"{agents} agent(s) x {turns} turns: measuring ...", file=sys.stderr)
            run |= run_measure(run_dir)
            run["summary"] = summarize(run)
            results["runs"].append(run)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2))
    print(render(results))
    for s in (r["summary"] for r in results["runs"] if r["turns"] == TARGET_TURNS):
        verdict = "met" if min(s["ratio_compressed"], s["ratio_uncompressed"]) >= TARGET_RATIO else "not met"
        print(
            f"\ntarget {TARGET_RATIO:.0f}x at {TARGET_TURNS} turns, {s['agents']} agent(s): {verdict} "
            f"({s['ratio_compressed']:.1f}x compressed, {s['ratio_uncompressed']:.1f}x uncompressed)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
