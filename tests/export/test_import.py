"""``trajotel import`` of OpenAI chat JSONL and Trae-agent trajectory JSON: existing logs become
trajectories marked with their source; bad input is refused with its place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trajotel.errors import InvalidInputError
from trajotel.export.imports import FORMAT_KEY, SOURCE_KEY, ImportOptions, import_files
from trajotel.store import Store
from trajotel.store.trajectories import read_trajectory
from trajotel.store.trajectory_query import TrajectoryFilter, read_trajectory_pages

CHAT = {
    "messages": [
        {"role": "system", "content": "You are a travel helper."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18C, cloudy"},
        {"role": "assistant", "content": "18 °C and cloudy.", "weight": 1},
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
    "parallel_tool_calls": False,
    "expected_city": "Paris",
}

TRAE = {
    "task": "Fix the failing test in utils.py",
    "start_time": "2026-05-01T10:00:00.000000",
    "end_time": "2026-05-01T10:00:09.500000",
    "provider": "openai",
    "model": "gpt-4o",
    "max_steps": 20,
    "llm_interactions": [
        {
            "timestamp": "2026-05-01T10:00:03.000000",
            "provider": "openai",
            "model": "gpt-4o",
            "input_messages": [
                {"role": "system", "content": "You are a software engineer."},
                {"role": "user", "content": "Fix the failing test in utils.py"},
            ],
            "response": {
                "content": "Let me look at the file.",
                "model": "gpt-4o-2024-08-06",
                "finish_reason": "completed",
                "usage": {
                    "input_tokens": 120,
                    "output_tokens": 30,
                    "cache_creation_input_tokens": None,
                    "cache_read_input_tokens": 0,
                    "reasoning_tokens": 0,
                },
                "tool_calls": [
                    {
                        "call_id": "c1",
                        "name": "str_replace_based_edit_tool",
                        "arguments": {"command": "view", "path": "utils.py"},
                        "id": "fc_1",
                    }
                ],
            },
            "tools_available": ["bash", "str_replace_based_edit_tool"],
        },
        {
            "timestamp": "2026-05-01T10:00:09.000000",
            "provider": "openai",
            "model": "gpt-4o",
            "input_messages": [
                {
                    "role": "user",
                    "content": None,
                    "tool_result": {
                        "call_id": "c1",
                        "success": True,
                        "result": "def add(a, b): return a - b",
                        "error": None,
                        "id": None,
                    },
                },
            ],
            "response": {
                "content": "The bug is the minus sign; fixed.",
                "model": "gpt-4o-2024-08-06",
                "finish_reason": "completed",
                "usage": {"input_tokens": 200, "output_tokens": 12},
                "tool_calls": None,
            },
            "tools_available": ["bash", "str_replace_based_edit_tool"],
        },
    ],
    "agent_steps": [],
    "success": True,
    "final_result": "Fixed add().",
    "execution_time": 9.5,
}


def _only(store: Store):  # type: ignore[no-untyped-def]
    (page,) = list(read_trajectory_pages(store, TrajectoryFilter()))
    (item,) = page
    return item[1]


def test_openai_chat_lines_become_trajectories(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "sft.jsonl"
    path.write_text(json.dumps(CHAT, ensure_ascii=False) + "\n\n")
    report = import_files(
        store, [path], ImportOptions(format="openai-chat", service="legacy", agent="travel")
    )
    assert (report.read, report.imported) == (1, 1)
    t = _only(store)
    assert t.metadata[FORMAT_KEY] == "openai-chat" and t.metadata[SOURCE_KEY] == f"{path}:1"
    assert t.metadata["expected_city"] == "Paris"
    assert (t.service_name, t.agent_name, t.task, t.status) == (
        "legacy",
        "travel",
        "Weather in Paris?",
        "complete",
    )
    assert len(t.turns) == 2
    first, second = t.turns
    assert [m.role for m in first.input_messages] == ["system", "user"]
    (call,) = first.tool_calls
    assert (call.id, call.name, call.arguments, call.result, call.status) == (
        "call_1",
        "get_weather",
        {"city": "Paris"},
        "18C, cloudy",
        "ok",
    )
    assert [m.role for m in second.input_messages] == ["system", "user", "assistant", "tool"]
    assert second.output_messages[0].parts[0].content == "18 °C and cloudy."
    assert t.tool_definitions == [
        {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}
    ]
    # The id comes from the content: importing the file again finds it there.
    again = import_files(store, [path], ImportOptions(format="openai-chat"))
    assert (again.imported, again.existing) == (0, 1)
    assert store.query("SELECT format, source FROM imports").rows == [["openai-chat", f"{path}:1"]]


def test_trae_agent_trajectory_files(store: Store, tmp_path: Path) -> None:
    runs = tmp_path / "trajectories"
    runs.mkdir()
    (runs / "trajectory_20260501_100000.json").write_text(json.dumps(TRAE, indent=2))
    failed = {**TRAE, "task": "Another task", "success": False}
    (runs / "trajectory_20260501_110000.json").write_text(json.dumps(failed, indent=2))
    report = import_files(store, [runs], ImportOptions(format="trae"))
    assert report.imported == 2
    [page] = list(read_trajectory_pages(store, TrajectoryFilter()))
    by_task = {t.task: t for _, t in page}
    t = by_task["Fix the failing test in utils.py"]
    assert t.outcome.label == "success" and by_task["Another task"].outcome.label == "failure"
    assert t.models == ["gpt-4o"] and t.metadata[FORMAT_KEY] == "trae"
    assert t.metadata["trae.final_result"] == "Fixed add()."
    assert t.usage.input_tokens == 320 and t.usage.output_tokens == 42
    assert t.duration_ms == 9500
    first, second = t.turns
    # Trae records only what is new to each call: the second call's input is rebuilt.
    assert [m.role for m in second.input_messages] == ["system", "user", "assistant", "tool"]
    assert second.input_messages[2] == first.output_messages[0]
    (call,) = first.tool_calls
    assert call.arguments == {"command": "view", "path": "utils.py"}
    assert call.result == "def add(a, b): return a - b" and call.status == "ok"
    assert second.response_model == "gpt-4o-2024-08-06"
    stored = read_trajectory(store, t.id)
    assert stored == t


@pytest.mark.parametrize(
    ("fmt", "content", "message"),
    [
        ("trajotel", '{"id": "a", "turns": []}\nnot json\n', r"bad\.jsonl:2: not JSON"),
        ("trajotel", '{"no": "id"}\n', r"bad\.jsonl:1: not a trajotel trajectory"),
        (
            "trajotel",
            json.dumps(
                {
                    "id": "a",
                    "turns": [{"index": 0, "trace_id": "t", "span_id": "", "inherited_input_count": 4}],
                }
            ),
            r"bad\.jsonl:1: turn 0: inherited_input_count 4",
        ),
        ("openai-chat", '{"prompt": "hi"}\n', r"bad\.jsonl:1: not an OpenAI chat line"),
        (
            "openai-chat",
            '{"messages": [{"role": "user", "content": "hi"}]}\n',
            r"bad\.jsonl:1: no assistant message",
        ),
        ("trae", '{"task": "x"}', r"bad\.jsonl: not a Trae-agent trajectory"),
    ],
)
def test_bad_input_is_refused_with_its_place(
    store: Store, tmp_path: Path, fmt: str, content: str, message: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(InvalidInputError, match=message):
        import_files(store, [path], ImportOptions(format=fmt))


def test_missing_files_and_unknown_formats(store: Store, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        import_files(store, [tmp_path / "nope.jsonl"], ImportOptions())
    with pytest.raises(InvalidInputError, match="unknown import format 'csv'"):
        import_files(store, [tmp_path], ImportOptions(format="csv"))
