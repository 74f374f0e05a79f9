"""fireworks, fireworks-sft: rows checked with eval-protocol's ``EvaluationRow`` and the dataset
check ``ep create rft`` runs, plus an evaluator run on the RFT rows
(validators/fireworks_rows.py, ``eval-protocol`` consumer venv)."""

from __future__ import annotations

from pathlib import Path

from trajotel.export.format import ExportOptions
from trajotel.export.formats import fireworks

from tests.export.formats import samples
from tests.export.formats.conftest import Validate
from tests.export.formats.files import collect, write_jsonl

RFT, SFT = fireworks.FORMATS


def test_rft_rows(tmp_path: Path, eval_protocol: Validate) -> None:
    records = collect(RFT, samples.all_runs(), ExportOptions(metadata_keys=("split",)))
    summary = eval_protocol("fireworks_rows.py", "rft", write_jsonl(tmp_path / "rft.jsonl", records))
    assert summary["rows"] == 5
    first = records[0]
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    assert first["ground_truth"] == "18C"
    assert first["input_metadata"]["row_id"] == "run-openai"
    assert first["input_metadata"]["dataset_info"]["reference_reward"] == 1.0
    assert first["input_metadata"]["dataset_info"]["split"] == "train"


def test_sft_rows(tmp_path: Path, eval_protocol: Validate) -> None:
    records = collect(SFT, samples.all_runs())
    summary = eval_protocol("fireworks_rows.py", "sft", write_jsonl(tmp_path / "sft.jsonl", records))
    assert summary["rows"] == 5 and summary["reasoning_messages"] == 3
    assert records[0]["messages"][2]["reasoning_content"] == "Two cities: call the tool twice."
    turns = collect(SFT, samples.all_runs(), ExportOptions(level="turn"))
    eval_protocol("fireworks_rows.py", "sft", write_jsonl(tmp_path / "turns.jsonl", turns))


def test_rejections_are_real(tmp_path: Path, eval_protocol: Validate) -> None:
    records = collect(SFT, [samples.openai_run()])
    records[0]["messages"][2]["thinking"] = "not a Message field"
    path = write_jsonl(tmp_path / "bad.jsonl", records)
    eval_protocol("fireworks_rows.py", "sft", path, reject="not eval-protocol Message fields")
    records = collect(SFT, [samples.openai_run()])
    records[0]["messages"][1]["role"] = 7
    path = write_jsonl(tmp_path / "bad2.jsonl", records)
    eval_protocol("fireworks_rows.py", "sft", path, reject="not a valid EvaluationRow")
