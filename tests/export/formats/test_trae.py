"""trae: Trae Agent trajectory documents checked against the shape trae-agent's recorder writes
(validators/trae_schema.py: trae-agent is not on PyPI and ships no reader)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trajotel.export.formats import trae

from tests.export.formats import samples
from tests.export.formats.files import collect, write_jsonl
from tests.export.formats.validators import trae_schema


def test_trajectories(tmp_path: Path) -> None:
    records = collect(trae.FORMAT, samples.all_runs())
    assert len(records) == 4  # the raw-arguments run has no object form for Trae's ToolCall
    assert trae_schema.validate(write_jsonl(tmp_path / "trae.jsonl", records)) == {"trajectories": 4}
    one = tmp_path / "one.json"
    one.write_text(json.dumps(records[0]))
    assert trae_schema.validate(one) == {"trajectories": 1}
    array = tmp_path / "all.json"
    array.write_text(json.dumps(records))
    assert trae_schema.validate(array) == {"trajectories": 4}

    run = records[0]
    assert run["task"] == samples.WEATHER_TASK and run["success"] is True and run["max_steps"] == 3
    assert run["final_result"].startswith("Paris: 18C.")
    assert len(run["llm_interactions"]) == 3
    last_input = run["llm_interactions"][2]["input_messages"]
    roles = ["system", "user", "assistant", "assistant", "assistant", "user", "user", "assistant", "user"]
    assert [m["role"] for m in last_input] == roles
    assert last_input[2] == {"role": "assistant", "content": "Let me check both cities."}
    call = {"call_id": "call_paris", "name": "get_weather", "arguments": {"city": "Paris", "unit": "C"}}
    assert last_input[3]["tool_call"] == {**call, "id": "call_paris"}
    step = run["agent_steps"][0]
    assert step["tool_results"][1] == {
        "call_id": "call_atlantis",
        "success": False,
        "result": None,
        "error": "error: unknown city 'Atlantis'",
        "id": "call_atlantis",
    }
    # A step sends what is new since the last call: the two tool results.
    assert [m["role"] for m in run["agent_steps"][1]["llm_messages"]] == ["user", "user"]
    # The failed last call of the reset run is a step with an error and no interaction.
    reset = records[3]
    assert len(reset["llm_interactions"]) == 2 and reset["agent_steps"][2]["error"] == "RateLimitError"


def test_rejections_are_real(tmp_path: Path) -> None:
    record = collect(trae.FORMAT, [samples.openai_run()])[0]
    del record["agent_steps"][0]["tool_results"][0]["success"]
    with pytest.raises(trae_schema.Rejected, match="success"):
        trae_schema.validate(write_jsonl(tmp_path / "bad.jsonl", [record]))
