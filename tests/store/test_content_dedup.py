"""Message content is stored once, by hash, however many model calls of a run repeat it: the
property behind the storage benchmark (bench/storage.py), checked on a short run of its agent
through the real pipeline (openai SDK under opentelemetry-instrument -> OTLP -> collector ->
embedded store)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from trajotel.testing.collector_process import CollectorProcess
from trajotel.testing.fake_llm import FakeLLMServer

from tests.support.agent_runs import COLLECTOR_ENV, OPENTELEMETRY_INSTRUMENT, agent_env, run_agent, wait_for

BENCH = Path(__file__).resolve().parents[2] / "bench" / "storage.py"
TURNS = 8


def _bench_storage():
    spec = importlib.util.spec_from_file_location("bench_storage", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


storage = _bench_storage()


def test_a_repeated_history_is_stored_once(tmp_path: Path) -> None:
    copy = tmp_path / "otlp.bin"  # the OTLP requests the agent exported, as sent
    with (
        FakeLLMServer({storage.MODEL: storage.scenario(TURNS)}) as fake,
        CollectorProcess(tmp_path / "data", env=COLLECTOR_ENV) as collector,
    ):
        agent = [OPENTELEMETRY_INSTRUMENT, sys.executable, str(BENCH), "--_agent", str(copy)]
        run_agent([*agent, "--_max-turns", str(TURNS)], agent_env(collector, fake))
        trajectory = wait_for(
            lambda: collector.query("SELECT turn_count FROM trajectories WHERE status = 'complete'"),
            what="the complete trajectory",
        )
        rows = collector.query("SELECT Hash, Kind, Content FROM message_contents")  # no FINAL
        # A body written twice would sit in the ReplacingMergeTree only until a merge collapses
        # it, so count what the inserts wrote: every inserted part (one block; level 1 under
        # optimize_on_insert) stays listed, inactive once merged, for old_parts_lifetime (8 min).
        written = collector.query(
            "SELECT sum(rows) AS rows FROM system.parts WHERE database = 'trajotel' "
            "AND table = 'message_contents' AND min_block_number = max_block_number AND level <= 1"
        )
        span_refs = collector.query(
            "SELECT SpanId, InputMessageHashes, OutputMessageHashes, SystemInstructionsHash, "
            "ToolDefinitionsHash FROM spans WHERE Operation = 'chat'"
        )
        tool_results = collector.query(
            "SELECT ToolCallResultHash, SpanAttributes FROM spans WHERE Operation = 'execute_tool'"
        )
        turns = collector.query(
            "SELECT span_id, input_message_hashes, output_message_hashes, input_message_count "
            "FROM turns ORDER BY turn_index"
        )
        turn_refs = collector.query(
            "SELECT InheritedInputCount, InputMessageHashes, OutputMessageHashes FROM turns_data FINAL "
            "ORDER BY TurnIndex"
        )
    assert trajectory == [{"turn_count": TURNS}]

    sent = {
        span.span_id.hex(): storage.span_content(span)
        for _, _, span in storage.iter_spans(list(storage.read_requests(copy)))
    }
    sent_values = [v for content in sent.values() for values in content.values() for v in values]
    distinct = {storage.canonical(v) for v in sent_values}
    assert len(sent_values) > 3 * len(distinct)  # the run does repeat its history

    # Every distinct message (and the tool definitions) is one row, and nothing else is stored.
    stored = [storage.canonical(json.loads(row["Content"])) for row in rows]
    assert len(stored) == len(distinct), "a body is stored more than once (or one is missing)"
    assert set(stored) == distinct
    assert len({row["Hash"] for row in rows}) == len(rows)
    assert int(written[0]["rows"]) == len(distinct), "the inserts wrote some body more than once"

    # Each chat span refers to its messages, in order, by hash.
    by_hash = {row["Hash"]: json.loads(row["Content"]) for row in rows}
    assert len(span_refs) == TURNS
    for ref in span_refs:
        content = sent[ref["SpanId"]]
        assert [by_hash[h] for h in ref["InputMessageHashes"]] == content["gen_ai.input.messages"]
        assert [by_hash[h] for h in ref["OutputMessageHashes"]] == content["gen_ai.output.messages"]
        assert [by_hash[ref["ToolDefinitionsHash"]]] == content["gen_ai.tool.definitions"]

    # Each turn stores only what its input adds to the turn before it (the assistant message
    # comes back without its finish reason, so it is new to the next input, once), so turns_data
    # refers to each input message of the run once; the turns view gives each turn its whole
    # input again, as the span sent it.
    spans_by_id = {ref["SpanId"]: ref for ref in span_refs}
    assert [t["input_message_hashes"] for t in turns] == [
        spans_by_id[t["span_id"]]["InputMessageHashes"] for t in turns
    ]
    assert [t["input_message_count"] for t in turns] == [len(t["input_message_hashes"]) for t in turns]
    inputs = [len(t["input_message_hashes"]) for t in turns]
    assert [r["InheritedInputCount"] for r in turn_refs] == [0, *inputs[:-1]]
    assert sum(len(r["InputMessageHashes"]) for r in turn_refs) == inputs[-1]

    # A tool's result is the tool message that hands it to the model: one row, not two.
    sent_inputs = {h for ref in span_refs for h in ref["InputMessageHashes"]}
    assert tool_results and all(r["ToolCallResultHash"] in sent_inputs for r in tool_results)
    assert not [r for r in tool_results if "gen_ai.tool.call.result" in r["SpanAttributes"]]
