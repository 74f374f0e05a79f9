"""An ART trajectory-group JSONL file read with OpenPipe ART's own code (``art`` consumer venv).

    python art_groups.py FILE.jsonl

* ``art.utils.trajectory_migration.deserialize_trajectory_groups`` reads the file (what ART
  does with its JSONL logs): one group per line, assistant turns as ``Choice`` objects;
* every trajectory, with the fields that reader skips (tools, additional histories), validates
  as ``art.Trajectory`` and every line as ``art.TrajectoryGroup``; additional histories are read
  the way the reader reads the main one;
* ``Trajectory.messages()`` (what ART tokenizes) is a valid OpenAI message list with tool
  results answering earlier calls, and each trajectory has trainable Choices;
* ART's Parquet writer and reader round-trip the groups (``trajectory_logging``); the summary
  counts the Choices the reader gives back (none: it reads every item back as a plain message,
  ignoring its own ``trainable`` column, and skips ``tools``; why ``art`` writes no Parquet).

Prints a JSON summary (per group: rewards, trainable choices); exits 1 when ART rejects.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import art
import pydantic
from art.utils.trajectory_logging import read_trajectory_groups_parquet, write_trajectory_groups_parquet
from art.utils.trajectory_migration import deserialize_trajectory_groups, dict_to_message_or_choice
from openai.types.chat import ChatCompletionMessageParam
from openai.types.chat.chat_completion import Choice

MESSAGES = pydantic.TypeAdapter(list[ChatCompletionMessageParam])


class Rejected(ValueError):
    pass


def check_messages(trajectory: art.Trajectory, where: str) -> None:
    messages = trajectory.messages()
    try:
        MESSAGES.validate_python(messages)
    except pydantic.ValidationError as exc:
        raise Rejected(f"{where}: messages(): {exc}") from None
    calls: set[str] = set()
    for message in messages:
        calls.update(c["id"] for c in message.get("tool_calls") or [])
        if message["role"] == "tool" and message["tool_call_id"] not in calls:
            raise Rejected(f"{where}: tool result for unknown call {message['tool_call_id']!r}")


def validate(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    try:
        groups = deserialize_trajectory_groups(text)
    except Exception as exc:
        raise Rejected(f"deserialize_trajectory_groups: {type(exc).__name__}: {exc}") from None
    lines = [json.loads(line) for line in text.splitlines() if line]
    if len(groups) != len(lines):
        raise Rejected(f"{len(groups)} groups read from {len(lines)} lines")
    summary: dict[str, Any] = {"groups": []}
    for n, (group, line) in enumerate(zip(groups, lines, strict=True), 1):
        try:
            full = [art.Trajectory.model_validate(t) for t in line["trajectories"]]
            art.TrajectoryGroup(full)
        except pydantic.ValidationError as exc:
            raise Rejected(f"line {n}: {exc}") from None
        if len(group.trajectories) < 2:
            raise Rejected(f"line {n}: a group needs at least two trajectories")
        choices = []
        for k, read in enumerate(group.trajectories):
            where = f"line {n}, trajectory {k}"
            check_messages(read, where)
            # ART's reader skips additional histories: read them the way it reads the main one.
            for history in line["trajectories"][k]["additional_histories"]:
                items = [dict_to_message_or_choice(m) for m in history["messages_and_choices"]]
                check_messages(art.Trajectory(messages_and_choices=items), f"{where}, history")
            trainable = sum(isinstance(item, Choice) for item in read.messages_and_choices)
            if trainable == 0:
                raise Rejected(f"{where}: no Choice, nothing for ART to train")
            choices.append(trainable)
        summary["groups"].append(
            {
                "rewards": [t.reward for t in group.trajectories],
                "choices": choices,
                "additional_histories": [len(t.additional_histories) for t in full],
            }
        )
    with tempfile.TemporaryDirectory() as tmp:
        parquet = Path(tmp) / "0000.parquet"
        write_trajectory_groups_parquet(groups, parquet)
        again = read_trajectory_groups_parquet(parquet)
    if [len(g.trajectories) for g in again] != [len(g.trajectories) for g in groups]:
        raise Rejected("ART's Parquet round trip changed the groups")
    summary["parquet_choices"] = [
        sum(isinstance(item, Choice) for t in g.trajectories for item in t.messages_and_choices)
        for g in again
    ]
    for group, copy in zip(groups, again, strict=True):
        for a, b in zip(group.trajectories, copy.trajectories, strict=True):
            if a.messages() != b.messages() or a.reward != b.reward:
                raise Rejected("ART's Parquet round trip changed a trajectory")
    return summary


def main(argv: list[str]) -> int:
    try:
        print(json.dumps(validate(Path(argv[0]))))
    except Rejected as exc:
        print(f"rejected: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
