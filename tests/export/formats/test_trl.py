"""trl-sft, trl-dpo, trl-kto, trl-grpo: each file loaded by ``datasets``, classified and rendered
by TRL's data utilities with real chat templates from the trl wheel, tokenized with assistant
masks as SFTTrainer does (validators/hf_datasets.py in the ``hf`` consumer venv, no torch)."""

from __future__ import annotations

import json
from pathlib import Path

from trajotel.export.format import ExportOptions
from trajotel.export.formats import trl_dpo, trl_grpo, trl_kto, trl_sft

from tests.export.formats import samples
from tests.export.formats.conftest import Validate
from tests.export.formats.files import collect, write_jsonl

# Qwen3's template takes arguments as a string or an object and renders reasoning; Qwen3.6's
# iterates the arguments (objects only) and renders them as XML parameters.
TEMPLATES = ("qwen3_training", "qwen3_6_training")


def test_sft_messages(tmp_path: Path, hf: Validate) -> None:
    records = collect(trl_sft.FORMAT, samples.all_runs())
    summary = hf("hf_datasets.py", "sft", write_jsonl(tmp_path / "sft.jsonl", records), *TEMPLATES)
    assert summary["rows"] == len(records) == 5  # the raw-arguments run has no object form
    assert all(summary["templates"][t]["assistant_tokens"] > 0 for t in TEMPLATES)
    first = records[0]["messages"]
    call = first[2]["tool_calls"][1]
    assert call == {
        "id": "call_atlantis",
        "type": "function",
        "function": {"name": "get_weather", "arguments": {"city": "Atlantis"}},
    }
    assert first[2]["reasoning_content"] == "Two cities: call the tool twice."
    assert first[4] == {
        "role": "tool",
        "tool_call_id": "call_atlantis",
        "content": "error: unknown city 'Atlantis'",
        "name": "get_weather",
    }
    assert json.loads(records[0]["tools"])[1]["function"]["name"] == "search"
    # Text templates get text: the image of the Anthropic-style run is not rendered.
    assert records[1]["messages"][1] == {"role": "user", "content": "Where is this and what is the weather?"}


def test_sft_prompt_completion(tmp_path: Path, hf: Validate) -> None:
    records = collect(trl_sft.FORMAT, samples.all_runs(), ExportOptions(level="turn"))
    summary = hf("hf_datasets.py", "sft", write_jsonl(tmp_path / "turns.jsonl", records), *TEMPLATES)
    assert summary["rows"] == len(records) == 9
    assert all(len(r["completion"]) == 1 and r["completion"][0]["role"] == "assistant" for r in records)


def test_string_arguments_need_a_template_that_takes_them(tmp_path: Path, hf: Validate) -> None:
    records = collect(trl_sft.FORMAT, samples.all_runs(), ExportOptions(tool_arguments="string"))
    assert len(records) == 6  # the raw-arguments run is expressible now
    path = write_jsonl(tmp_path / "strings.jsonl", records)
    hf("hf_datasets.py", "sft", path, "qwen3_training")
    # The template decides: Qwen3.6 iterates the arguments and fails on a string.
    hf("hf_datasets.py", "sft", path, "qwen3_6_training", reject="apply_chat_template")


def test_dpo(tmp_path: Path, hf: Validate) -> None:
    groups = [samples.weather_group()]
    records = collect(trl_dpo.FORMAT, groups)
    assert len(records) == 2
    summary = hf("hf_datasets.py", "dpo", write_jsonl(tmp_path / "dpo.jsonl", records), *TEMPLATES)
    assert summary["rows"] == 2
    best = records[0]
    assert [m["role"] for m in best["prompt"]] == ["system", "user"]
    assert [m["role"] for m in best["chosen"]] == [
        "assistant",
        "tool",
        "tool",
        "assistant",
        "tool",
        "assistant",
    ]
    assert best["rejected"] == [
        {
            "role": "assistant",
            "content": "I cannot know the weather.",
            "reasoning_content": "No tools needed.",
        }
    ]


def test_kto(tmp_path: Path, hf: Validate) -> None:
    runs = [*samples.all_runs(), *samples.weather_group()]
    records = collect(trl_kto.FORMAT, runs)
    # Labels from outcomes (success / failure) or, for a partial outcome, the reward's sign;
    # runs with neither (raw-arguments, unrated) are left out.
    assert [r["label"] for r in records] == [True, False, True, True, True, True, False, True, False]
    hf("hf_datasets.py", "kto", write_jsonl(tmp_path / "kto.jsonl", records), *TEMPLATES)
    turns = collect(trl_kto.FORMAT, samples.all_runs(), ExportOptions(level="turn"))
    hf("hf_datasets.py", "kto", write_jsonl(tmp_path / "kto-turns.jsonl", turns), *TEMPLATES)
    # Uniform credit: every turn of a run labelled by the run's reward; the failed run's are 0.
    assert [r["label"] for r in turns] == [True] * 3 + [False] * 2 + [True] * 2 + [True] * 2


def test_grpo(tmp_path: Path, hf: Validate) -> None:
    options = ExportOptions(metadata_keys=("ground_truth",))
    records = collect(trl_grpo.FORMAT, samples.all_runs(), options)
    summary = hf("hf_datasets.py", "grpo", write_jsonl(tmp_path / "grpo.jsonl", records), *TEMPLATES)
    assert summary["rows"] == 5
    first = records[0]
    assert [m["role"] for m in first["prompt"]] == ["system", "user"]
    assert set(first) == {
        "prompt",
        "trajectory_id",
        "task",
        "reference_answer",
        "reference_reward",
        "outcome",
        "ground_truth",
    }
    assert first["ground_truth"] == "18C" and first["reference_reward"] == 1.0
