"""agent-lightning: triplets validated with agentlightning 0.3's types, and cross-checked with
its own adapters on the spans its tracer would have recorded for those calls
(validators/agentlightning_triplets.py, ``agentlightning`` consumer venv)."""

from __future__ import annotations

from pathlib import Path

from trajotel.export.format import ExportOptions
from trajotel.export.formats import agent_lightning as al

from tests.export.formats import samples
from tests.export.formats.conftest import Validate
from tests.export.formats.files import collect, write_jsonl


def test_turn_triplets(tmp_path: Path, agentlightning: Validate) -> None:
    records = collect(al.FORMAT, samples.all_runs(), ExportOptions(level="turn", credit="discounted"))
    summary = agentlightning("agentlightning_triplets.py", "turn", write_jsonl(tmp_path / "t.jsonl", records))
    calls = {"run-openai": 3, "run-anthropic": 2, "run-few-shot": 2, "run-reset": 2, "run-raw-args": 2}
    assert summary["rollouts"] == calls
    first = records[0]
    assert first["prompt"]["token_ids"] == list(range(100, 110)) and first["response"]["token_ids"] == [
        7,
        8,
        9,
    ]
    assert first["response"]["logprobs"] == [-0.1, -0.2, -0.3]
    assert first["response"]["raw_content"][0]["tool_calls"][0] == {
        "id": "call_paris",
        "name": "get_weather",
        "arguments": '{"city": "Paris", "unit": "C"}',
    }
    # Discounted credit: the last call gets the run's reward, earlier ones less.
    assert [r["reward"] for r in records[:3]] == [0.81, 0.9, 1.0]
    assert records[3]["prompt"]["image_urls"] == ["https://example.com/eiffel.jpg"]
    assert records[3]["prompt"]["token_ids"] == []  # not recorded: text only
    assert records[0]["metadata"]["rollout_id"] == "run-openai" and records[0]["metadata"]["turn_index"] == 0


def test_rollouts(tmp_path: Path, agentlightning: Validate) -> None:
    records = collect(al.FORMAT, samples.all_runs())
    summary = agentlightning(
        "agentlightning_triplets.py", "trajectory", write_jsonl(tmp_path / "r.jsonl", records)
    )
    assert summary["lines"] == 5
    assert records[0]["final_reward"] == 1.0 and len(records[0]["triplets"]) == 3
    assert records[0]["task"]["input"] == samples.WEATHER_TASK


def test_rejections_are_real(tmp_path: Path, agentlightning: Validate) -> None:
    records = collect(al.FORMAT, [samples.openai_run()], ExportOptions(level="turn"))
    call = records[1]["prompt"]["raw_content"][2]["tool_calls"][0]
    call["function"] = {"name": call.pop("name"), "arguments": call.pop("arguments")}  # OpenAI's nesting
    path = write_jsonl(tmp_path / "bad.jsonl", records)
    agentlightning("agentlightning_triplets.py", "turn", path, reject="the adapter fails")
