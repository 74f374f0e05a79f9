"""A turn's input is stored by reference to the turn before it (migration 0012): what a reader
gets back, through the Python readers and through the ``turns`` view, is each turn's whole input
as assembled, whether a turn extends the one before it, shares only part of it (an edited or
compacted history) or starts over."""

from __future__ import annotations

from trajotel.assemble.model import Message, Part, Trajectory, Turn
from trajotel.store import Store
from trajotel.store.trajectories import message_hash, read_trajectory, write_trajectories
from trajotel.store.trajectory_query import TrajectoryFilter, read_trajectories


def _text(role: str, text: str) -> Message:
    return Message(role=role, parts=[Part(type="text", content=text)])


def _trajectory(trajectory_id: str) -> Trajectory:
    system, task = _text("system", "be brief"), _text("user", "add 2 and 3")
    first, second = _text("assistant", "5"), _text("assistant", "five")
    summary = _text("user", "summary of the work so far: the answer is 5")
    inputs = [
        [system, task],
        [system, task, first, _text("user", "in words?")],  # extends the input and output
        [system, summary],  # compacted: shares only the system prompt
        [_text("system", "be verbose"), summary],  # shares nothing
        [_text("system", "be verbose"), summary, second, _text("user", "thanks")],
    ]
    outputs = [[first], [second], [first], [second], [_text("assistant", "you are welcome")]]
    turns = [
        Turn(index=i, trace_id="t1", span_id=f"s{i}", input_messages=messages, output_messages=outputs[i])
        for i, messages in enumerate(inputs)
    ]
    return Trajectory(id=trajectory_id, status="complete", turns=turns, trace_ids=["t1"])


def test_every_turn_reads_back_its_whole_input(store: Store) -> None:
    written = _trajectory("compacted")
    write_trajectories(store, [(written, "fingerprint")], set())

    stored = store.query(
        "SELECT InheritedInputCount, length(InputMessageHashes) FROM turns_data ORDER BY TurnIndex"
    ).rows
    assert stored == [[0, 2], [3, 1], [1, 1], [0, 2], [3, 1]]

    def hashes(messages: list[Message]) -> list[str]:
        return [message_hash(m)[0] for m in messages]

    expected = [hashes(t.input_messages) for t in written.turns]
    view = store.query("SELECT input_message_hashes, input_message_count FROM turns ORDER BY turn_index")
    assert [row[0] for row in view.rows] == expected
    assert [row[1] for row in view.rows] == [len(h) for h in expected]

    one = read_trajectory(store, "compacted")
    assert one is not None
    assert [hashes(t.input_messages) for t in one.turns] == expected
    (batch,) = read_trajectories(store, TrajectoryFilter(ids=["compacted"]))
    assert [hashes(t.input_messages) for t in batch.turns] == expected


def test_a_turns_input_is_rebuilt_within_its_own_version(store: Store) -> None:
    """A newer version with fewer turns leaves the older version's later turns in turns_data;
    neither the view nor the readers may thread a turn onto another version's turns."""
    longer = _trajectory("versions")
    write_trajectories(store, [(longer, "v1")], set())
    shorter = _trajectory("versions")
    shorter.version = 2
    shorter.turns = shorter.turns[1:3]
    for i, turn in enumerate(shorter.turns):
        turn.index = i
    write_trajectories(store, [(shorter, "v2")], set())

    expected = [[message_hash(m)[0] for m in t.input_messages] for t in shorter.turns]
    view = store.query(
        "SELECT input_message_hashes FROM turns WHERE trajectory_id = 'versions' ORDER BY turn_index"
    )
    assert [row[0] for row in view.rows] == expected
    read = read_trajectory(store, "versions")
    assert read is not None and read.version == 2
    assert [[message_hash(m)[0] for m in t.input_messages] for t in read.turns] == expected
