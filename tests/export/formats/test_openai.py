"""openai-sft, openai-dpo, openai-rft: files checked with the openai SDK's types and the rules of
OpenAI's fine-tuning guides (validators/openai_files.py), in the project's venv (openai is a
dependency of trajotel)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openai.types.fine_tuning import ReinforcementMethod

from trajotel.export.format import ExportOptions
from trajotel.export.formats import openai_dpo, openai_rft, openai_sft

from tests.export.formats import samples
from tests.export.formats.files import collect, renamed, write_jsonl
from tests.export.formats.validators import openai_files


def _many(n: int = 3) -> list[Any]:
    return [renamed(t, str(k)) for k in range(n) for t in samples.all_runs()]


def _validate(kind: str, tmp_path: Path, records: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    return openai_files.validate(kind, write_jsonl(tmp_path / f"{kind}.jsonl", records), **kw)


def test_sft_trajectories_pass_openai_types(tmp_path: Path) -> None:
    records = collect(openai_sft.FORMAT, _many())
    assert _validate("sft", tmp_path, records)["lines"] == len(records)
    by_first_user = {json.dumps(r["messages"][:2]): r for r in records}
    assert len(records) == 3 * 5  # 5 runs: the reset run has 2 chains, the raw-arguments run none

    openai = records[0]
    roles = [m["role"] for m in openai["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "tool", "assistant", "tool", "assistant"]
    first = openai["messages"][2]
    assert first["content"] == "Let me check both cities." and first["weight"] == 1
    assert [c["id"] for c in first["tool_calls"]] == ["call_paris", "call_atlantis"]
    assert json.loads(first["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris", "unit": "C"}
    assert openai["messages"][4]["content"] == "error: unknown city 'Atlantis'"
    assert all("reasoning_content" not in m for m in openai["messages"])  # OpenAI has no field for it
    assert [t["function"]["name"] for t in openai["tools"]] == ["get_weather", "search"]

    anthropic = records[1]["messages"]
    assert anthropic[0] == {"role": "system", "content": "You are terse."}
    assert anthropic[1]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "https://example.com/eiffel.jpg"},
    }
    assert [m["role"] for m in anthropic[2:]] == ["assistant", "tool", "user", "assistant"]

    few_shot = records[2]["messages"]
    assert [m.get("weight") for m in few_shot if m["role"] == "assistant"] == [0, 1, 1]
    assert few_shot[3]["tool_calls"][0]["id"] == few_shot[4]["tool_call_id"] == "call_1"
    assert by_first_user  # every line has its own prompt


def test_sft_turn_level(tmp_path: Path) -> None:
    records = collect(openai_sft.FORMAT, _many(), ExportOptions(level="turn"))
    _validate("sft", tmp_path, records)
    # One line per call with an output; none from the raw-arguments run (both of its calls show
    # the call whose arguments are not JSON).
    assert len(records) == 3 * (3 + 2 + 2 + 2)
    for record in records:
        weights = [m["weight"] for m in record["messages"] if m["role"] == "assistant"]
        assert weights[-1] == 1 and set(weights[:-1]) <= {0}


def test_sft_options_reach_the_file(tmp_path: Path) -> None:
    options = ExportOptions(system_prompt=False, reasoning="keep")
    records = collect(openai_sft.FORMAT, [samples.openai_run()], options)
    messages = records[0]["messages"]
    assert messages[0]["role"] == "user"
    assert messages[1]["reasoning_content"] == "Two cities: call the tool twice."
    # OpenAI's types have no reasoning field: the consumer check rejects the file.
    with pytest.raises(openai_files.Rejected, match="reasoning_content"):
        _validate("sft", tmp_path, records * 10)


def test_sft_rejections_are_real(tmp_path: Path) -> None:
    record = collect(openai_sft.FORMAT, [samples.openai_run()])[0]
    broken = json.loads(json.dumps(record))
    broken["messages"][3]["tool_call_id"] = "call_nowhere"
    with pytest.raises(openai_files.Rejected, match="answers no earlier call"):
        _validate("sft", tmp_path, [broken] * 10)
    object_args = collect(openai_sft.FORMAT, [samples.openai_run()], ExportOptions(tool_arguments="object"))
    with pytest.raises(openai_files.Rejected, match="ChatCompletionMessageParam"):
        _validate("sft", tmp_path, object_args * 10)
    with pytest.raises(openai_files.Rejected, match="at least 10"):
        _validate("sft", tmp_path, [record])


def test_dpo_pairs_by_reward(tmp_path: Path) -> None:
    groups = [[renamed(t, str(k)) for t in samples.weather_group()] for k in range(5)]
    records = collect(openai_dpo.FORMAT, groups)
    _validate("dpo", tmp_path, records)
    assert len(records) == 10  # per group: best vs worst, middle vs low; the unrated run unused
    best_vs_worst = records[0]
    assert [m["role"] for m in best_vs_worst["input"]["messages"]] == ["system", "user"]
    preferred = best_vs_worst["preferred_output"]
    assert [m["role"] for m in preferred] == ["assistant", "tool", "tool", "assistant", "tool", "assistant"]
    assert preferred[-1]["content"].startswith("Paris: 18C.")
    assert best_vs_worst["non_preferred_output"] == [
        {"role": "assistant", "content": "I cannot know the weather."}
    ]
    assert [t["function"]["name"] for t in best_vs_worst["input"]["tools"]] == ["get_weather", "search"]


def test_dpo_needs_a_shared_prompt() -> None:
    other_task = samples.anthropic_run()
    other_task.reward = 1.0
    assert collect(openai_dpo.FORMAT, [[other_task, samples.short_run("w", 0.0, "no")]]) == []
    same_reward = [samples.short_run("a", 0.5, "x"), samples.short_run("b", 0.5, "y")]
    assert collect(openai_dpo.FORMAT, [same_reward]) == []


def test_rft_prompts_and_grader_fields(tmp_path: Path) -> None:
    options = ExportOptions(metadata_keys=("ground_truth",))
    records = collect(openai_rft.FORMAT, _many(2), options)
    _validate("rft", tmp_path, records)
    first = records[0]
    assert [m["role"] for m in first["messages"]] == ["developer", "user"]
    assert first["reference_answer"].startswith("Paris: 18C.")
    assert first["reference_reward"] == 1.0 and first["outcome"] == "success"
    assert first["ground_truth"] == "18C" and first["task"] == samples.WEATHER_TASK
    few_shot = records[2]["messages"]
    assert [m["role"] for m in few_shot] == ["user", "assistant", "user"]  # ends with the user's turn

    # A grader reading the fields validates as OpenAI's reinforcement method, and every line
    # has what it reads.
    grader = {
        "type": "string_check",
        "name": "same answer",
        "input": "{{ sample.output_text }}",
        "reference": "{{ item.reference_answer }}",
        "operation": "eq",
    }
    method = ReinforcementMethod.model_validate({"grader": grader})
    assert method.grader.type == "string_check"
    assert all(isinstance(r["reference_answer"], str) for r in records)
