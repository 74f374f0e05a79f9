"""Bad exports fail before any file is written, saying what is wrong and what to do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from trajotel.errors import InvalidInputError
from trajotel.export.run import export
from trajotel.export.spec import parse_options
from trajotel.store import Store

from tests.export.conftest import fill
from tests.export.synthetic import trajectories


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"format": "nope"}, "unknown export format 'nope'"),
        ({"since": "yesterday"}, "--since: 'yesterday' is not a time"),
        ({"since": "2026-05-02", "until": "2026-05-01"}, "--since .* is not before --until"),
        ({"ranges": {"reward": [1.0, 0.0]}}, r"--min-reward \(1.0\) is greater than --max-reward \(0.0\)"),
        ({"ranges": {"height": [1.0, None]}}, "unknown range filter 'height'"),
        ({"where": "no_such_column = 1"}, "--where: ClickHouse refused them"),
        ({"where": "(unbalanced"}, "--where: ClickHouse refused them"),
        ({"format": "art", "group_by": "colour"}, "unknown group key 'colour'"),
        ({"level": "turn"}, "format 'trajotel' writes trajectory-level records, not turn-level"),
        ({"file_type": "parquet"}, r"--out .*x\.jsonl ends in \.jsonl but --file-type is parquet"),
        ({"out": "x.parquet"}, "format 'trajotel' writes jsonl, not parquet"),
        ({"credit": "lucky"}, "unknown credit method 'lucky'"),
        ({"max_turns": 0}, "--max-turns must be a positive integer"),
        ({"validation_fraction": 1.5}, r"--validation-fraction must be in \[0, 1\)"),
        ({"group_min_size": 4, "group_max_size": 5}, "--group-max-size must be at least 7"),
        ({"name": "../evil"}, "export name '../evil'"),
        ({"surprise": 1}, "unknown export setting 'surprise'"),
    ],
)
def test_bad_exports_are_refused_before_writing(
    store: Store, tmp_path: Path, given: dict, message: str
) -> None:
    fill(store, trajectories(2))
    with pytest.raises(InvalidInputError, match=message):
        export(store, {"format": "trajotel", "out": str(tmp_path / "x.jsonl"), **given})
    assert list(tmp_path.iterdir()) == []


def test_unwritable_paths(store: Store, tmp_path: Path) -> None:
    fill(store, trajectories(2))
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InvalidInputError, match=r"cannot write to .*file/x\.jsonl"):
        export(store, {"format": "trajotel", "out": str(blocker / "x.jsonl")})
    with pytest.raises(InvalidInputError, match="must be a directory for named export"):
        export(store, {"format": "trajotel", "out": str(blocker), "name": "n"})


def test_read_only_directory(store: Store, tmp_path: Path) -> None:
    fill(store, trajectories(2))
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    readonly.chmod(0o500)
    # Permissions do not stop root; sysfs refuses new files to everyone.
    target = Path("/sys") if os.geteuid() == 0 else readonly
    try:
        with pytest.raises(InvalidInputError, match=r"cannot write to .*Permission denied"):
            export(store, {"format": "trajotel", "out": str(target / "x.jsonl")})
    finally:
        readonly.chmod(0o700)


def test_option_text_errors_name_the_option() -> None:
    with pytest.raises(InvalidInputError, match="argument --max-turns: invalid int value"):
        parse_options("--format trajotel --out x --max-turns many")
    with pytest.raises(InvalidInputError, match="unrecognized arguments: --colour"):
        parse_options("--format trajotel --out x --colour red")


def test_the_command_line_says_what_and_what_next(tmp_path: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "trajotel", *args], capture_output=True, text=True, timeout=120
        )

    missing = cli(
        "export", "--format", "trajotel", "--out", str(tmp_path / "x.jsonl"), "--data", str(tmp_path / "none")
    )
    assert missing.returncode == 1
    assert "no trajotel data in" in missing.stderr and "hint:" in missing.stderr
    unknown = cli(
        "export", "--format", "nope", "--out", "x.jsonl", "--clickhouse", f"chdb://{tmp_path / 'store'}"
    )
    assert unknown.returncode == 1
    assert "unknown export format 'nope'" in unknown.stderr and "formats: " in unknown.stderr
    listed = cli("export", "--list-formats")
    assert listed.returncode == 0 and "trajotel" in listed.stdout
