"""verl: RL prompt rows written as Parquet with the format's pyarrow schema, read back by
``datasets`` (as verl's RLHFDataset does), checked for the columns verl's dataset and reward
manager read, and rendered with real chat templates (validators/hf_datasets.py, ``hf`` venv;
verl itself needs torch)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from trajotel.export.format import ExportOptions
from trajotel.export.formats import verl

from tests.export.formats import samples
from tests.export.formats.conftest import Validate
from tests.export.formats.files import collect, write_parquet

TEMPLATES = ("qwen3_training", "qwen3_6_training")


def test_rl_prompts(tmp_path: Path, hf: Validate) -> None:
    options = ExportOptions(metadata_keys=("ground_truth", "missing"))
    records = collect(verl.FORMAT, samples.all_runs(), options)
    path = write_parquet(tmp_path / "verl.parquet", records, verl.FORMAT)
    assert pq.read_schema(path).equals(verl.parquet_schema())
    summary = hf("hf_datasets.py", "verl-rl", path, *TEMPLATES)
    assert summary["rows"] == 5
    first = records[0]
    assert first["data_source"] == "trajotel/weather-agent" and first["agent_name"] == "tool_agent"
    assert [m["role"] for m in first["prompt"]] == ["system", "user"]
    assert first["reward_model"] == {"style": "rule", "ground_truth": "18C"}
    extra = first["extra_info"]
    assert extra["trajectory_id"] == "run-openai" and extra["reference_reward"] == 1.0
    assert json.loads(extra["metadata"]) == {"ground_truth": "18C", "missing": None}
    # The Anthropic-style prompt: system instructions first, the image left out (text only).
    assert records[1]["prompt"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Where is this and what is the weather?"},
    ]


def test_rejections_are_real(tmp_path: Path, hf: Validate) -> None:
    records = collect(verl.FORMAT, [samples.openai_run()])
    records[0]["agent_name"] = "my_agent"
    path = write_parquet(tmp_path / "bad.parquet", records, verl.FORMAT)
    hf("hf_datasets.py", "verl-rl", path, TEMPLATES[0], reject="is none of verl")
