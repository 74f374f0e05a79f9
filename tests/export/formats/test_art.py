"""art: trajectory groups read by OpenPipe ART's own reader and models, and round-tripped through
ART's Parquet logs (validators/art_groups.py in the ``art`` consumer venv)."""

from __future__ import annotations

from pathlib import Path

from trajotel.export.formats import art as art_format

from tests.export.formats import samples
from tests.export.formats.conftest import Validate
from tests.export.formats.files import collect, write_jsonl


def test_groups(tmp_path: Path, art: Validate) -> None:
    reset = samples.reset_run()  # two chains: the first becomes an additional history
    records = collect(
        art_format.FORMAT,
        [[*samples.weather_group(), reset], [samples.few_shot_run(), samples.anthropic_run()]],
    )
    summary = art("art_groups.py", write_jsonl(tmp_path / "groups.jsonl", records))
    assert len(records) == 2
    first, second = summary["groups"]
    assert first["rewards"] == [1.0, 0.0, 0.5, 0.25, 0.75]  # the unrated run is left out
    assert first["choices"] == [3, 1, 3, 1, 1]
    assert first["additional_histories"] == [0, 0, 0, 0, 1]
    assert second["choices"] == [2, 2]
    # No Parquet form: ART's Parquet reader gives every Choice back as a plain message (nothing
    # left for ART to tell trained from given) and drops tools; docs/formats.md.
    assert summary["parquet_choices"] == [0, 0]
    assert art_format.FORMAT.file_types == ("jsonl",)

    best = records[0]["trajectories"][0]
    items = best["messages_and_choices"]
    assert (
        items[2]["finish_reason"] == "tool_calls"
        and items[2]["message"]["tool_calls"][0]["id"] == "call_paris"
    )
    assert items[-1]["finish_reason"] == "stop"
    assert best["metrics"] == {"turns": 3, "tool_calls": 3, "tool_errors": 1, "duration_s": 0.003}
    assert best["metadata"]["trajectory_id"] == "g-best" and best["metadata"]["outcome"] == "success"
    # Few-shot history the run was given stays a plain message (not trained).
    few_shot = records[1]["trajectories"][0]["messages_and_choices"]
    assert few_shot[1] == {"role": "assistant", "content": "Oslo: 3C."}


def test_a_group_needs_two_rated_runs() -> None:
    unrated = samples.short_run("u", None, "x")
    assert collect(art_format.FORMAT, [[samples.openai_run(), unrated]]) == []
