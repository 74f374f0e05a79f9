"""verl-sft: runs with different tool sets written as verl's multi-turn SFT Parquet (one file per
structure, writers.SchemaFiles as the driver uses it), read back the way verl's
MultiTurnSFTDataset reads them (validators/verl_sft.py: pandas, concat, numpy arrays as lists)
and tokenized message by message with real chat templates as verl does (``hf`` venv; verl itself
needs torch)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from trajotel.assemble.model import Trajectory
from trajotel.export import chat
from trajotel.export.chat import Unexpressible
from trajotel.export.format import ExportOptions
from trajotel.export.formats import verl_sft
from trajotel.export.writers import SchemaFiles

from tests.export.formats import samples
from tests.export.formats.conftest import Validate
from tests.export.formats.files import collect, write_jsonl
from tests.export.formats.validators.verl_sft import differences, read_as_verl

# Qwen3's training template takes string or object arguments and renders reasoning; Qwen2.5's
# has a default system prompt (which verl cuts from every message after the first) and wants
# object arguments. Qwen3.5+ templates refuse a message list without a user message, so verl's
# one-message-at-a-time tokenization cannot use them.
TEMPLATE = "qwen3_training"

WEATHER, SEARCH = samples.TOOLS[0], samples.TOOLS[1]
FORECAST = {**copy.deepcopy(WEATHER), "name": "get_forecast", "description": "Tomorrow's weather of a city."}
NO_ARGUMENTS = {"type": "function", "name": "now", "parameters": {"type": "object", "properties": {}}}


def _with_tools(trajectory: Trajectory, *tools: dict[str, Any]) -> Trajectory:
    trajectory.tool_definitions = list(tools)
    return trajectory


def search_run() -> Trajectory:
    """Two searches one after the other, their arguments of different shapes, reasoning."""
    return samples.run(
        "run-search",
        task="Find a picnic spot.",
        prompt=[samples.message("user", samples.text("Find a picnic spot in Paris."))],
        outputs=[
            samples.assistant(
                samples.thinking("Search with a filter."),
                samples.call("s1", "search", {"query": "picnic", "limit": 3, "filters": {"site": "fr"}}),
            ),
            samples.assistant(samples.call("s2", "search", {"query": "park"})),
            samples.assistant(samples.thinking("Found it."), samples.text("Parc Monceau.")),
        ],
        results={"s1": ("nothing", "ok"), "s2": ("Parc Monceau", "ok")},
        reward=1.0,
        outcome="success",
    )


def runs_with_different_tool_sets() -> list[Trajectory]:
    """Runs whose tool sets differ from run to run, each set of one shape: get_weather alone
    (two runs), search alone (twice), get_weather and its same-shaped twin, no function tool."""
    return [
        _with_tools(samples.few_shot_run(), WEATHER),  # a call without id, few-shot history
        _with_tools(samples.anthropic_run(), WEATHER, samples.TOOLS[2]),  # + a provider tool
        _with_tools(search_run(), SEARCH),
        _with_tools(samples.raw_arguments_run(), SEARCH),  # arguments that are not JSON
        _with_tools(samples.reset_run(), WEATHER, FORECAST),  # two chains: two records
        _with_tools(samples.short_run("run-no-tools", 0.0, "I cannot know."), samples.TOOLS[2]),
    ]


def write(path: Path, records: list[dict[str, Any]]) -> list[Path]:
    """As the driver does: one file per structure, renamed into place."""
    files = SchemaFiles(path, verl_sft.parquet_schema_of, schema=verl_sft.parquet_schema)
    for record in records:
        files.write(record)
    infos = files.finish()
    files.commit()
    return [info.path for info in infos]


def test_what_verl_reads_is_what_the_run_had(tmp_path: Path, hf: Validate) -> None:
    records = collect(verl_sft.FORMAT, runs_with_different_tool_sets())
    assert len(records) == 7
    paths = write(tmp_path / "sft.parquet", records)
    # One file per structure: get_weather-shaped tool sets (two runs, and the two chains of a
    # run with a same-shaped second tool), search, none.
    assert [p.name for p in paths] == ["sft-00000.parquet", "sft-00001.parquet", "sft-00002.parquet"]
    assert [pq.read_metadata(p).num_rows for p in paths] == [4, 2, 1]
    rows = read_as_verl(paths)  # pd.read_parquet per file, concat, numpy arrays as lists
    records = [records[i] for i in (0, 1, 4, 5, 2, 3, 6)]  # in the order of the files
    assert differences(rows, records) == []
    weather, search = rows[0], rows[4]
    assert weather["tools"] == [chat.function_tool(WEATHER)]  # no null-filled foreign fields
    assert rows[2]["tools"] == [chat.function_tool(WEATHER), chat.function_tool(FORECAST)]
    assert search["tools"] == [chat.function_tool(SEARCH)]
    assert search["messages"][1]["tool_calls"][0]["function"] == {
        "name": "search",
        "arguments": '{"query": "picnic", "limit": 3, "filters": {"site": "fr"}}',
    }
    assert search["messages"][1]["reasoning_content"] == "Search with a filter."
    assert search["enable_thinking"] is True and weather["enable_thinking"] is None
    assert rows[5]["messages"][1]["tool_calls"][0]["function"]["arguments"] == "query=cats"
    # A user message comes back with the other messages' keys as null (one struct type).
    assert weather["messages"][0] == {
        "role": "user",
        "content": "Weather in Oslo?",
        "reasoning_content": None,
        "tool_calls": None,
        "tool_call_id": None,
        "name": None,
    }
    assert rows[6]["tools"] is None and rows[6]["messages"][-1]["content"] == "I cannot know."
    assert rows[6]["enable_thinking"] is True  # reasoning without tools
    expect = write_jsonl(tmp_path / "records.jsonl", records)
    summary = hf("verl_sft.py", "--expect", expect, *paths, "--templates", TEMPLATE)
    assert summary["rows"] == 7 and summary["templates"][TEMPLATE]["trained_tokens"] > 0


def test_object_arguments(tmp_path: Path, hf: Validate) -> None:
    options = ExportOptions(tool_arguments="object")
    records = collect(verl_sft.FORMAT, runs_with_different_tool_sets(), options)
    # The search run's two calls have arguments of different shapes (one struct type would give
    # each the other's fields), and the raw arguments have no object form: both left out.
    assert len(records) == 5
    assert records[0]["messages"][3]["tool_calls"][0]["function"]["arguments"] == {"city": "Rome"}
    paths = write(tmp_path / "objects.parquet", records)
    assert differences(read_as_verl(paths), records) == []
    expect = write_jsonl(tmp_path / "records.jsonl", records)
    hf("verl_sft.py", "--expect", expect, *paths, "--templates", TEMPLATE)
    # Qwen2.5's default system prompt, cut by verl from every message after the first.
    plain = collect(
        verl_sft.FORMAT,
        runs_with_different_tool_sets(),
        ExportOptions(tool_arguments="object", reasoning="drop"),
    )
    paths = write(tmp_path / "qwen25.parquet", plain)
    hf("verl_sft.py", *paths, "--templates", "qwen2_5_training")


def test_what_no_parquet_file_can_give_verl_is_left_out() -> None:
    # Tools of different shapes in one run: one list, one struct type.
    assert collect(verl_sft.FORMAT, [samples.openai_run()]) == []
    # An empty object (a tool without parameters) has no Parquet form.
    assert collect(verl_sft.FORMAT, [_with_tools(samples.few_shot_run(), WEATHER, NO_ARGUMENTS)]) == []
    bad = {"messages": [], "tools": chat.chat_tools(samples.openai_run()), "enable_thinking": None}
    with pytest.raises(Unexpressible, match="nulls"):
        verl_sft.parquet_schema_of(bad)
    with pytest.raises(Unexpressible, match="empty object"):
        verl_sft.parquet_schema_of({**bad, "tools": [chat.function_tool(NO_ARGUMENTS)]})
    # Numbers Parquet would give another type: 1 next to 0.5 in one struct field reads back 1.0.
    ranged = {"type": "function", "name": "pick", "parameters": {"minimum": 1}}
    ranged_too = {"type": "function", "name": "pick2", "parameters": {"minimum": 0.5}}
    with pytest.raises(Unexpressible):
        verl_sft.parquet_schema_of(
            {**bad, "tools": [chat.function_tool(ranged), chat.function_tool(ranged_too)]}
        )


def test_a_file_with_one_union_schema_is_rejected(tmp_path: Path, hf: Validate) -> None:
    records = collect(verl_sft.FORMAT, runs_with_different_tool_sets())
    naive = tmp_path / "naive.parquet"
    pq.write_table(pa.Table.from_pylist(records), naive)  # one file, Arrow's merged struct types
    found = differences(read_as_verl([naive]), records)
    assert found and "null" in found[0]  # get_weather's schema gains search's fields as nulls
    expect = write_jsonl(tmp_path / "records.jsonl", records)
    hf("verl_sft.py", "--expect", expect, naive, reject="verl reads something else than was written")


def test_parallel_tool_calls_fail_verls_own_sanity_check(tmp_path: Path, hf: Validate) -> None:
    """Qwen templates put consecutive tool results in one user turn; verl tokenizes each alone,
    so its sanity check fails (verl's ``ignore_input_ids_mismatch`` trains on its own form)."""
    parallel = samples.run(
        "run-parallel",
        task="Weather in Paris and Rome?",
        prompt=[samples.message("user", samples.text("Weather in Paris and Rome?"))],
        outputs=[
            samples.assistant(
                samples.call("p", "get_weather", {"city": "Paris"}),
                samples.call("r", "get_weather", {"city": "Rome"}),
            ),
            samples.assistant(samples.text("18C and 21C.")),
        ],
        results={"p": ("18C", "ok"), "r": ("21C", "ok")},
    )
    records = collect(verl_sft.FORMAT, [_with_tools(parallel, WEATHER)])
    paths = write(tmp_path / "parallel.parquet", records)
    assert differences(read_as_verl(paths), records) == []  # the data is right
    hf("verl_sft.py", *paths, "--templates", TEMPLATE, reject="verl's sanity check fails")


def test_records_are_plain_json() -> None:
    for record in collect(verl_sft.FORMAT, runs_with_different_tool_sets()):
        assert json.loads(json.dumps(record)) == record
        assert set(record) == {"messages", "tools", "enable_thinking"}
