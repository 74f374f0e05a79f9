"""sharegpt: rows checked against LLaMA-Factory's ShareGPT rules (its converter's tag alternation,
JSON function calls and tools), then loaded by ``datasets`` and rendered by real chat templates
as the messages LLaMA-Factory builds from them (validators/hf_datasets.py, ``hf`` venv; LLaMA-
Factory itself needs torch)."""

from __future__ import annotations

import json
from pathlib import Path

from trajotel.export.format import ExportOptions
from trajotel.export.formats import sharegpt

from tests.export.formats import samples
from tests.export.formats.conftest import Validate
from tests.export.formats.files import collect, write_jsonl

TEMPLATES = ("qwen3_training", "qwen3_6_training")


def test_conversations(tmp_path: Path, hf: Validate) -> None:
    records = collect(sharegpt.FORMAT, samples.all_runs())
    summary = hf("hf_datasets.py", "sharegpt", write_jsonl(tmp_path / "sharegpt.jsonl", records), *TEMPLATES)
    assert summary["rows"] == len(records) == 5
    first = records[0]
    assert [t["from"] for t in first["conversations"]] == [
        "human", "function_call", "observation", "function_call", "observation", "gpt"
    ]  # fmt: skip
    parallel = json.loads(first["conversations"][1]["value"])
    assert parallel == [
        {"name": "get_weather", "arguments": {"city": "Paris", "unit": "C"}},
        {"name": "get_weather", "arguments": {"city": "Atlantis"}},
    ]
    assert json.loads(first["conversations"][2]["value"])[1] == "error: unknown city 'Atlantis'"
    assert first["system"] == "You are a weather agent. Use the tools."
    assert [t["name"] for t in json.loads(first["tools"])] == ["get_weather", "search"]
    # Anthropic-style: the user's text after the tool result joins the observation.
    assert records[1]["conversations"][2] == {
        "from": "observation",
        "value": '{"temp_c":18}\n\nResults above.',
    }


def test_reasoning_and_turns(tmp_path: Path, hf: Validate) -> None:
    options = ExportOptions(level="turn", reasoning="keep")
    records = collect(sharegpt.FORMAT, samples.all_runs(), options)
    hf("hf_datasets.py", "sharegpt", write_jsonl(tmp_path / "turns.jsonl", records), *TEMPLATES)
    last = records[2]["conversations"][-1]
    assert last["value"].startswith("<think>\nDone.\n</think>\n\nParis: 18C.")


def test_rejections_are_real(tmp_path: Path, hf: Validate) -> None:
    record = collect(sharegpt.FORMAT, [samples.openai_run()])[0]
    record["conversations"] = record["conversations"][:-1]  # ends with an observation
    hf(
        "hf_datasets.py",
        "sharegpt",
        write_jsonl(tmp_path / "bad.jsonl", [record]),
        TEMPLATES[0],
        reject="even",
    )
