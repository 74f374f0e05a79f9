"""The durable spool: round trips across segments, checkpoints, crash repair, backpressure,
concurrent appenders, and a real SIGKILL of an appending process. Everything runs against real
files in a temporary directory; nothing of the spool is mocked."""

from __future__ import annotations

import itertools
import os
import random
import signal
import struct
import subprocess
import sys
import tempfile
import textwrap
import threading
import zlib
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trajotel.errors import BackpressureError
from trajotel.spool.spool import KIND_LOGS, KIND_TRACES, Position, Record, Spool, SpoolError

HEADER = 9  # <u32 length><u32 crc32><u8 kind>


def _open(directory: Path, *, max_bytes: int = 0, segment_bytes: int = 512, fsync: bool = True) -> Spool:
    return Spool(directory, max_bytes=max_bytes, segment_bytes=segment_bytes, fsync=fsync)


def _payloads(n: int, seed: int = 0) -> list[tuple[int, bytes]]:
    """Records of both kinds, of varied sizes (including empty), each recognisable by its index."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = KIND_TRACES if i % 3 else KIND_LOGS
        body = b"" if i % 17 == 5 else f"record-{i:05d}|".encode() + rng.randbytes(rng.randrange(0, 90))
        out.append((kind, body))
    return out


def _append_all(spool: Spool, records: list[tuple[int, bytes]]) -> None:
    for kind, payload in records:
        spool.append(kind, payload)


def _read_all(spool: Spool, start: Position | None = None, step: int = 10_000) -> list[Record]:
    """Everything from ``start`` (default: the checkpoint), in reads of ``step`` records."""
    out: list[Record] = []
    position = spool.checkpoint if start is None else start
    while True:
        got = spool.read(position, step)
        assert len(got) <= step
        if not got:
            return out
        out.extend(got)
        position = got[-1].end


def _kinds_payloads(records: list[Record]) -> list[tuple[int, bytes]]:
    return [(r.kind, r.payload) for r in records]


def _segment_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("seg-*.log"))


# --- round trip ------------------------------------------------------------------------------------


def test_round_trip_of_many_records_across_segments(tmp_path: Path) -> None:
    spool = _open(tmp_path, segment_bytes=512)
    written = _payloads(400)
    _append_all(spool, written)

    assert len(spool.segments()) >= 10, "small segments must rotate"
    assert spool.segments() == list(range(len(spool.segments()))), "segments are numbered contiguously"
    records = _read_all(spool)
    assert _kinds_payloads(records) == written
    assert {r.kind for r in records} == {KIND_TRACES, KIND_LOGS}

    # Positions chain: each record starts where the previous ended, or at the start of the next segment.
    for before, after in itertools.pairwise(records):
        assert before.end.offset - before.start.offset == HEADER + len(before.payload)
        assert after.start == before.end or (
            after.start == Position(before.end.segment + 1, 0)
            and before.end.offset == (tmp_path / f"seg-{before.end.segment:012d}.log").stat().st_size
        )
    # The bytes on disk are exactly the records, nothing else.
    assert sum(p.stat().st_size for p in _segment_files(tmp_path)) == sum(HEADER + len(p) for _, p in written)
    assert spool.unconsumed_bytes() == sum(HEADER + len(p) for _, p in written)
    spool.close()


def test_on_disk_format_is_length_crc_kind_payload(tmp_path: Path) -> None:
    spool = _open(tmp_path, segment_bytes=1 << 20)
    spool.append(KIND_LOGS, b"hello spool")
    spool.close()
    raw = (tmp_path / "seg-000000000000.log").read_bytes()
    # The checksum covers the kind byte and the payload, from the seed 0x7472616A ("traj").
    crc = zlib.crc32(b"hello spool", zlib.crc32(bytes([KIND_LOGS]), 0x7472616A))
    assert raw == struct.pack("<IIB", 11, crc, KIND_LOGS) + b"hello spool"


def test_read_respects_max_records_and_resumes_from_any_end(tmp_path: Path) -> None:
    spool = _open(tmp_path, segment_bytes=300)
    written = _payloads(120, seed=1)
    _append_all(spool, written)
    start = spool.checkpoint

    assert spool.read(start, 0) == []
    first7 = spool.read(start, 7)
    assert _kinds_payloads(first7) == written[:7]
    # One record at a time walks across every segment boundary without skipping or repeating.
    assert _kinds_payloads(_read_all(spool, step=1)) == written
    assert _kinds_payloads(_read_all(spool, step=13)) == written
    # Resuming from the end of record k yields exactly the records after k.
    everything = _read_all(spool)
    for k in (0, 6, 59, 118):
        assert _kinds_payloads(spool.read(everything[k].end, 5)) == written[k + 1 : k + 6]
    assert spool.read(everything[-1].end, 10) == []
    spool.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    payloads=st.lists(
        st.tuples(st.sampled_from([KIND_TRACES, KIND_LOGS]), st.binary(max_size=200)), max_size=60
    ),
    segment_bytes=st.integers(min_value=1, max_value=2000),
    split=st.integers(min_value=0, max_value=60),
)
def test_property_round_trip_and_reopen(
    payloads: list[tuple[int, bytes]], segment_bytes: int, split: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        spool = _open(directory, segment_bytes=segment_bytes, fsync=False)
        head = payloads[: min(split, len(payloads))]
        _append_all(spool, head)
        spool.close()
        spool = _open(directory, segment_bytes=segment_bytes, fsync=False)
        _append_all(spool, payloads[len(head) :])
        assert _kinds_payloads(_read_all(spool)) == payloads
        spool.close()


# --- checkpoint, commit, reopen --------------------------------------------------------------------


def test_commit_deletes_fully_consumed_segments_and_advances(tmp_path: Path) -> None:
    spool = _open(tmp_path, segment_bytes=400)
    written = _payloads(200, seed=2)
    _append_all(spool, written)
    records = _read_all(spool)
    segments_before = spool.segments()
    assert len(segments_before) >= 6

    # Commit in the middle of a segment well past the first few.
    in_segment_4 = [i for i, r in enumerate(records) if r.start.segment == 4]
    assert len(in_segment_4) >= 3
    k = in_segment_4[1]
    spool.commit(records[k].end)

    assert spool.checkpoint == records[k].end
    assert spool.pending is None
    assert spool.segments() == [s for s in segments_before if s >= records[k].end.segment]
    for segment in range(records[k].end.segment):
        assert not (tmp_path / f"seg-{segment:012d}.log").exists()
    assert _kinds_payloads(_read_all(spool)) == written[k + 1 :]
    assert spool.unconsumed_bytes() == sum(HEADER + len(p) for _, p in written[k + 1 :])

    # Committing everything leaves only the newest segment and nothing unconsumed.
    spool.commit(records[-1].end)
    assert spool.segments() == [records[-1].end.segment]
    assert spool.unconsumed_bytes() == 0
    assert _read_all(spool) == []
    # Appends continue after a full commit.
    spool.append(KIND_TRACES, b"after")
    assert _kinds_payloads(_read_all(spool)) == [(KIND_TRACES, b"after")]
    spool.close()


def test_reopen_resumes_from_the_checkpoint(tmp_path: Path) -> None:
    spool = _open(tmp_path, segment_bytes=256)
    written = _payloads(80, seed=3)
    _append_all(spool, written)
    records = _read_all(spool)
    spool.commit(records[29].end)
    spool.close()

    reopened = _open(tmp_path, segment_bytes=256)
    assert reopened.checkpoint == records[29].end
    assert reopened.pending is None
    # Records after the checkpoint are read again; those before it are not.
    assert _kinds_payloads(_read_all(reopened)) == written[30:]
    assert reopened.unconsumed_bytes() == sum(HEADER + len(p) for _, p in written[30:])
    # New appends go after the old records, never over them.
    extra = [(KIND_LOGS, b"new-1"), (KIND_TRACES, b"new-2")]
    _append_all(reopened, extra)
    assert _kinds_payloads(_read_all(reopened)) == written[30:] + extra
    reopened.close()

    again = _open(tmp_path, segment_bytes=256)
    assert _kinds_payloads(_read_all(again)) == written[30:] + extra
    again.close()


def test_reopen_without_checkpoint_replays_everything(tmp_path: Path) -> None:
    spool = _open(tmp_path, segment_bytes=256)
    written = _payloads(40, seed=4)
    _append_all(spool, written)
    spool.close()
    assert not (tmp_path / "checkpoint").exists()
    reopened = _open(tmp_path, segment_bytes=256)
    assert _kinds_payloads(_read_all(reopened)) == written
    reopened.close()


def test_pending_batch_end_survives_reopen(tmp_path: Path) -> None:
    spool = _open(tmp_path, segment_bytes=256)
    _append_all(spool, _payloads(60, seed=5))
    records = _read_all(spool)
    spool.commit(records[9].end)
    spool.mark_pending(records[41].end)
    assert spool.pending == records[41].end
    spool.close()

    reopened = _open(tmp_path, segment_bytes=256)
    assert reopened.checkpoint == records[9].end
    assert reopened.pending == records[41].end
    # The pending end does not move the checkpoint: the in-flight batch is read again.
    assert _read_all(reopened)[0].start == records[10].start
    reopened.commit(reopened.pending)
    reopened.close()

    final = _open(tmp_path, segment_bytes=256)
    assert final.checkpoint == records[41].end
    assert final.pending is None
    assert _read_all(final)[0].payload == records[42].payload
    final.close()


# --- torn tails ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cut",
    [1, 4, HEADER - 1, HEADER, HEADER + 1, "half"],
    ids=["1-byte", "mid-length", "mid-kind", "header-only", "one-payload-byte", "half-payload"],
)
def test_torn_last_record_is_cut_on_reopen(tmp_path: Path, cut: int | str) -> None:
    spool = _open(tmp_path, segment_bytes=1 << 20)
    written = [(KIND_TRACES, f"intact-{i}".encode() * 5) for i in range(20)]
    written.append((KIND_LOGS, b"L" * 100))
    _append_all(spool, written)
    spool.close()
    segment = _segment_files(tmp_path)[-1]
    size = segment.stat().st_size
    last_start = size - HEADER - 100
    keep = last_start + (HEADER + 50 if cut == "half" else int(cut))
    os.truncate(segment, keep)

    reopened = _open(tmp_path, segment_bytes=1 << 20)
    assert segment.stat().st_size == last_start, "the torn record is cut off"
    assert _kinds_payloads(_read_all(reopened)) == written[:-1]
    # The spool keeps working after the repair: a new record follows the intact ones.
    reopened.append(KIND_LOGS, b"after repair")
    reopened.close()
    final = _open(tmp_path, segment_bytes=1 << 20)
    assert _kinds_payloads(_read_all(final)) == [*written[:-1], (KIND_LOGS, b"after repair")]
    final.close()


@pytest.mark.parametrize(
    ("garbage_len", "claimed_length"),
    [(1, None), (8, None), (9, 1000), (37, 10), (4096, 5000), (4096, 100)],
    ids=["1-byte", "partial-header", "header-only", "bad-crc", "too-long", "bad-crc-long"],
)
def test_garbage_after_the_last_record_is_cut_on_reopen(
    tmp_path: Path, garbage_len: int, claimed_length: int | None
) -> None:
    spool = _open(tmp_path, segment_bytes=300)
    written = _payloads(50, seed=6)
    _append_all(spool, written)
    spool.close()
    segment = _segment_files(tmp_path)[-1]
    good_size = segment.stat().st_size
    garbage = bytearray(random.Random(garbage_len).randbytes(garbage_len))
    if claimed_length is not None:
        # A plausible length (huge ones are the test below): the payload is then either
        # cut short or fails its crc.
        struct.pack_into("<I", garbage, 0, claimed_length)
        _, crc, _ = struct.unpack("<IIB", garbage[:HEADER])
        assert zlib.crc32(garbage[HEADER : HEADER + claimed_length]) != crc
    with open(segment, "ab") as fh:
        fh.write(garbage)

    reopened = _open(tmp_path, segment_bytes=300)
    assert segment.stat().st_size == good_size
    assert _kinds_payloads(_read_all(reopened)) == written
    reopened.append(KIND_TRACES, b"next")
    assert _kinds_payloads(_read_all(reopened)) == [*written, (KIND_TRACES, b"next")]
    reopened.close()


def test_zero_filled_tail_is_cut_on_reopen(tmp_path: Path) -> None:
    # After a power loss some filesystems leave the file's new size with zero-filled blocks.
    spool = _open(tmp_path, segment_bytes=1 << 20)
    written = _payloads(10, seed=7)
    _append_all(spool, written)
    spool.close()
    segment = _segment_files(tmp_path)[-1]
    good_size = segment.stat().st_size
    with open(segment, "ab") as fh:
        fh.write(bytes(64))

    reopened = _open(tmp_path, segment_bytes=1 << 20)
    assert _kinds_payloads(_read_all(reopened)) == written
    assert segment.stat().st_size == good_size
    reopened.close()


def test_garbage_header_claiming_a_huge_length_does_not_need_that_memory(tmp_path: Path) -> None:
    spool = _open(tmp_path, segment_bytes=1 << 20)
    spool.append(KIND_TRACES, b"kept")
    spool.close()
    with open(_segment_files(tmp_path)[-1], "ab") as fh:
        fh.write(struct.pack("<IIB", 0xFFFFFFF0, 12345, KIND_TRACES) + b"torn")
    # A host with 1 GiB of address space (ulimit -v, strict overcommit, small VMs).
    script = textwrap.dedent(
        """
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from trajotel.spool.spool import Spool
        spool = Spool(sys.argv[1], max_bytes=0, segment_bytes=1 << 20)
        print([r.payload.decode() for r in spool.read(spool.checkpoint, 10)])
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "['kept']"


# --- backpressure ----------------------------------------------------------------------------------


def test_backpressure_when_unconsumed_bytes_exceed_max_bytes(tmp_path: Path) -> None:
    spool = _open(tmp_path, max_bytes=1000, segment_bytes=250)
    payload = b"p" * 100
    for _ in range(9):  # 9 * (9 + 100) = 981 bytes unconsumed
        spool.append(KIND_TRACES, payload)
    sizes = {p.name: p.stat().st_size for p in _segment_files(tmp_path)}

    with pytest.raises(BackpressureError) as raised:
        spool.append(KIND_LOGS, payload)
    assert raised.value.retry_after_s > 0
    assert raised.value.hint
    # Nothing of the refused record reached the disk.
    assert {p.name: p.stat().st_size for p in _segment_files(tmp_path)} == sizes
    records = _read_all(spool)
    assert _kinds_payloads(records) == [(KIND_TRACES, payload)] * 9
    assert spool.unconsumed_bytes() == 981

    # Once the writer commits, there is room again.
    spool.commit(records[4].end)
    spool.append(KIND_LOGS, payload)
    assert _kinds_payloads(_read_all(spool)) == [(KIND_TRACES, payload)] * 4 + [(KIND_LOGS, payload)]
    spool.close()


def test_zero_max_bytes_means_unbounded(tmp_path: Path) -> None:
    spool = _open(tmp_path, max_bytes=0, segment_bytes=1 << 16)
    for _ in range(50):
        spool.append(KIND_TRACES, b"x" * 1000)
    assert len(_read_all(spool)) == 50
    spool.close()


# --- concurrency -----------------------------------------------------------------------------------


def test_concurrent_appends_are_all_durable_and_read_exactly_once(tmp_path: Path) -> None:
    threads_n, per_thread = 8, 200
    spool = _open(tmp_path, segment_bytes=4096)
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []

    def payload(t: int, i: int) -> bytes:
        return f"t{t}-i{i:04d}-".encode() + bytes([t]) * (i % 64)

    def worker(t: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                spool.append(KIND_TRACES if (t + i) % 2 else KIND_LOGS, payload(t, i))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    spool.close()

    # Reopen: what is on disk is complete and uncorrupted.
    reopened = _open(tmp_path, segment_bytes=4096)
    records = _read_all(reopened)
    expected = {
        (KIND_TRACES if (t + i) % 2 else KIND_LOGS, payload(t, i))
        for t in range(threads_n)
        for i in range(per_thread)
    }
    got = Counter(_kinds_payloads(records))
    assert len(records) == threads_n * per_thread
    assert set(got) == expected
    assert max(got.values()) == 1
    # Each thread's own appends keep their order.
    for t in range(threads_n):
        mine = [r.payload for r in records if r.payload.startswith(f"t{t}-".encode())]
        assert mine == [payload(t, i) for i in range(per_thread)]
    assert len(reopened.segments()) > 1
    reopened.close()


# --- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        "garbage\n",
        "1 two 3 4\n",
        "",
        "7\n",
    ],
    ids=["words", "non-integer-field", "empty", "one-field"],
)
def test_unreadable_checkpoint_is_a_spool_error_with_a_hint(tmp_path: Path, content: str) -> None:
    spool = _open(tmp_path)
    spool.append(KIND_TRACES, b"x")
    spool.close()
    (tmp_path / "checkpoint").write_text(content)
    with pytest.raises(SpoolError) as raised:
        _open(tmp_path)
    assert "checkpoint" in str(raised.value)
    assert raised.value.hint and "delete" in raised.value.hint


def test_checkpoint_that_is_a_directory_is_a_spool_error(tmp_path: Path) -> None:
    (tmp_path / "checkpoint").mkdir()
    with pytest.raises(SpoolError) as raised:
        _open(tmp_path)
    assert raised.value.hint


def test_spool_directory_that_cannot_be_created_is_a_spool_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(SpoolError):
        _open(blocker / "spool")


def test_close_refuses_further_appends_and_keeps_what_was_written(tmp_path: Path) -> None:
    spool = _open(tmp_path)
    spool.append(KIND_TRACES, b"before close")
    spool.close()
    spool.close()  # idempotent
    with pytest.raises(SpoolError):
        spool.append(KIND_TRACES, b"after close")
    reopened = _open(tmp_path)
    assert _kinds_payloads(_read_all(reopened)) == [(KIND_TRACES, b"before close")]
    reopened.close()


# --- a real crash ----------------------------------------------------------------------------------

_CHILD = textwrap.dedent(
    """
    import sys
    from trajotel.spool.spool import Spool
    spool = Spool(sys.argv[1], max_bytes=0, segment_bytes=2048)
    for i in range(1_000_000):
        spool.append(1 + i % 2, b"rec-%07d|" % i + b"x" * (i % 97))
        print(i + 1, flush=True)
    """
)


def _expected_child_record(i: int) -> tuple[int, bytes]:
    return 1 + i % 2, b"rec-%07d|" % i + b"x" * (i % 97)


def test_sigkill_loses_no_acknowledged_record(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(directory)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    acknowledged = 0
    try:
        assert child.stdout is not None
        for line in child.stdout:
            acknowledged = int(line)
            if acknowledged >= 300:
                os.kill(child.pid, signal.SIGKILL)  # mid-stream: the child is still appending
                break
        rest, stderr = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL, stderr.decode()[-2000:]
    for line in rest.decode().split():
        acknowledged = max(acknowledged, int(line))
    assert acknowledged >= 300

    reopened = _open(directory, segment_bytes=2048)
    records = _kinds_payloads(_read_all(reopened))
    assert len(records) >= acknowledged
    # What survived is an uncorrupted prefix of what the child appended.
    assert records == [_expected_child_record(i) for i in range(len(records))]
    reopened.close()


def test_records_appended_after_a_lost_segment_tail_are_not_skipped(tmp_path: Path) -> None:
    # An OS crash can lose the (unsynced) end of a segment that the checkpoint already points
    # past; new records must not land before the checkpoint, where no reader would look.
    spool = _open(tmp_path, segment_bytes=1 << 20, fsync=False)
    written = _payloads(5, seed=3)
    _append_all(spool, written)
    spool.commit(_read_all(spool)[-1].end)
    spool.close()
    segment = _segment_files(tmp_path)[-1]
    os.truncate(segment, segment.stat().st_size // 2)

    reopened = _open(tmp_path, segment_bytes=1 << 20)
    reopened.append(KIND_TRACES, b"after the crash")
    assert _kinds_payloads(_read_all(reopened)) == [(KIND_TRACES, b"after the crash")]
    reopened.close()
