"""What the driver does between the store and a format: truncation, dropping reasoning, groups,
the train / validation split and deduplication."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from trajotel.assemble.model import Trajectory
from trajotel.export.format import ExportOptions
from trajotel.export.prepare import TRUNCATED_KEY, prepare
from trajotel.export.run import export
from trajotel.store import Store

from tests.export.conftest import fill
from tests.export.synthetic import TASKS, trajectories, trajectory


def _chars(trajectory: Trajectory, index: int) -> int:
    turn = trajectory.turns[index]
    size = sum(len(p.content or "") for p in trajectory.system_instructions)
    for message in (*turn.input_messages, *turn.output_messages):
        for part in message.parts:
            size += len(part.content or "") + len(part.name or "")
            if part.arguments is not None:
                size += len(json.dumps(part.arguments, ensure_ascii=False, separators=(",", ":")))
            if part.response is not None:
                text = (
                    part.response
                    if isinstance(part.response, str)
                    else json.dumps(part.response, separators=(",", ":"))
                )
                size += len(text)
    return size


def test_nothing_asked_nothing_changed() -> None:
    original = trajectory(1, full=True)
    assert prepare(original, ExportOptions()) == (original, False)
    assert prepare(original, ExportOptions(max_turns=3, max_tokens=10**6))[0] is original


def test_max_turns_keeps_the_first_turns_and_says_so() -> None:
    original = trajectory(1, turns=5, full=True)
    cut, truncated = prepare(original, ExportOptions(max_turns=2))
    assert truncated and [t.index for t in cut.turns] == [0, 1]
    assert cut.metadata[TRUNCATED_KEY] == "turns 5 -> 2 (max_turns)"
    assert len(original.turns) == 5 and TRUNCATED_KEY not in original.metadata  # the original is untouched


def test_max_tokens_cuts_long_parts_the_same_way_in_every_turn() -> None:
    original = trajectory(1, turns=4, text_chars=3000)
    budget = 1200  # tokens: 4,800 characters, far less than the last call's context
    assert _chars(original, 3) > budget * 4
    cut, truncated = prepare(original, ExportOptions(max_tokens=budget, truncation_marker="[cut]"))
    assert truncated and len(cut.turns) == 4
    assert all(_chars(cut, i) <= budget * 4 for i in range(4))
    assert "parts over" in cut.metadata[TRUNCATED_KEY]
    texts = [
        p.response for m in cut.turns[3].input_messages for p in m.parts if p.type == "tool_call_response"
    ]
    assert texts and all(isinstance(t, str) and t.endswith(" [cut]") for t in texts)
    # A message shared by turns is one cut object: identity across turns still holds.
    for previous, turn in zip(cut.turns, cut.turns[1:], strict=False):
        context = previous.input_messages + previous.output_messages
        assert all(a is b for a, b in zip(turn.input_messages, context, strict=False))


def test_max_tokens_drops_turns_when_cutting_is_not_enough() -> None:
    original = trajectory(1, turns=8, text_chars=100)
    cut, _ = prepare(original, ExportOptions(max_tokens=200))
    assert 1 <= len(cut.turns) < 8
    assert f"turns 8 -> {len(cut.turns)} (max_tokens 200)" in cut.metadata[TRUNCATED_KEY]


def test_reasoning_drop_removes_reasoning_parts() -> None:
    original = trajectory(1, full=True)
    assert any(p.type == "reasoning" for t in original.turns for m in t.output_messages for p in m.parts)
    dropped, truncated = prepare(original, ExportOptions(reasoning="drop"))
    assert not truncated
    assert not any(
        p.type == "reasoning"
        for t in dropped.turns
        for m in (*t.input_messages, *t.output_messages)
        for p in m.parts
    )
    assert prepare(original, ExportOptions(reasoning="keep"))[0] is original


def test_groups_of_the_same_task(store: Store, tmp_path: Path) -> None:
    # Tasks 0..9 have 3 runs each (i, i + 50, i + 100); task 10 has 1; tasks 11..49 have 2.
    fill(store, [t for t in trajectories(TASKS * 2 + 10)])
    manifest = export(
        store, {"format": "art", "out": str(tmp_path / "art.jsonl"), "group_min_size": 3, "group_max_size": 5}
    )
    counts = manifest["counts"]
    assert counts["groups"] == 10 and counts["trajectories"] == 30
    assert counts["left_out_small_groups"] == TASKS * 2 + 10 - 30
    # A big group is split into groups within the limits.
    fill(store, [dataclasses.replace(trajectory(1000 + k), task="big task") for k in range(12)])
    big = export(
        store, {"format": "art", "out": str(tmp_path / "big.jsonl"), "task": "big task", "group_max_size": 5}
    )
    assert big["counts"]["groups"] == 3 and big["counts"]["trajectories"] == 12


def test_split_is_deterministic_by_id(store: Store, tmp_path: Path) -> None:
    fill(store, trajectories(200))

    def split(name: str, seed: str = "") -> dict[str, set[str]]:
        manifest = export(
            store,
            {
                "format": "trajotel",
                "out": str(tmp_path / f"{name}.jsonl"),
                "validation_fraction": 0.25,
                "split_seed": seed,
            },
        )
        out = {}
        for item in manifest["files"]:
            lines = (tmp_path / item["path"]).read_text().splitlines()
            assert len(lines) == item["records"]
            out[item["split"]] = {json.loads(line)["id"] for line in lines}
        return out

    first, second, other = split("a"), split("b"), split("c", seed="another")
    assert first == second
    assert first["train"].isdisjoint(first["validation"]) and len(first["train"] | first["validation"]) == 200
    assert 25 <= len(first["validation"]) <= 75
    assert other["validation"] != first["validation"]


def test_dedup_leaves_out_identical_records(store: Store, tmp_path: Path) -> None:
    runs = list(trajectories(10))
    copies = [dataclasses.replace(runs[0], id=f"copy{k}") for k in range(3)]
    fill(store, runs + copies)
    plain = export(store, {"format": "openai-sft", "out": str(tmp_path / "plain.jsonl")})
    deduped = export(store, {"format": "openai-sft", "out": str(tmp_path / "dedup.jsonl"), "dedup": True})
    assert plain["counts"]["records"] == 13
    assert deduped["counts"]["records"] == 10 and deduped["counts"]["duplicates"] == 3
