"""The checked-in generated code matches the .proto, and the proto matches the Python model."""

from __future__ import annotations

import dataclasses
import itertools
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from trajotel import model_codegen
from trajotel.assemble import model
from trajotel.proto.trajotel.v1 import trajectory_pb2

# Derived fields: in one representation only, computed from the other.
# Turn.input_messages (the full input) is stored in the proto by reference to the previous turn.
DATACLASS_ONLY = {"Turn": {"input_messages"}}
PROTO_ONLY = {"Turn": {"inherited_input_count", "new_input_messages"}}

MODEL_CLASSES = {
    name: getattr(model, name)
    for name in ("Trajectory", "Turn", "Message", "Part", "ToolCall", "Usage", "Outcome", "Feedback")
}

# Lines that only record which protoc produced the file.
_VERSION_STAMPS = re.compile(
    r"# Protobuf Python Version: .*|ValidateProtobufRuntimeVersion\([^)]*\)", re.MULTILINE
)


def test_checked_in_code_is_current(tmp_path: Path) -> None:
    fresh = model_codegen.generate(tmp_path)
    assert "trajotel/v1/trajectory_pb2.py" in fresh
    assert "trajotel/v1/trajectory_pb2.pyi" in fresh
    stale = model_codegen.stale_files()
    if not stale:
        return
    # A different grpcio-tools stamps its own version; anything else is a real difference.
    real = [
        rel
        for rel in stale
        if not (model_codegen.OUT_ROOT / rel).is_file()
        or _VERSION_STAMPS.sub("", (tmp_path / rel).read_text())
        != _VERSION_STAMPS.sub("", (model_codegen.OUT_ROOT / rel).read_text())
    ]
    assert not real, f"stale generated code {real}: run `make proto` (python -m trajotel.model_codegen)"
    pytest.skip(f"generated code differs only in the protoc version stamp: {stale}")


def test_check_reports_stale_and_missing_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(model_codegen.OUT_ROOT, out, ignore=shutil.ignore_patterns("__pycache__"))
    assert model_codegen.stale_files(out_root=out) == []
    (out / "trajotel/v1/trajectory_pb2.pyi").write_text("# edited\n")
    (out / "trajotel/v1/trajectory_pb2.py").unlink()
    (out / "trajotel/v1/gone_pb2.py").write_text("# from a deleted .proto\n")
    assert model_codegen.stale_files(out_root=out) == [
        "trajotel/v1/gone_pb2.py",
        "trajotel/v1/trajectory_pb2.py",
        "trajotel/v1/trajectory_pb2.pyi",
    ]
    assert sorted(model_codegen.write(out_root=out)) == [
        "trajotel/v1/gone_pb2.py",
        "trajotel/v1/trajectory_pb2.py",
        "trajotel/v1/trajectory_pb2.pyi",
    ]
    assert model_codegen.stale_files(out_root=out) == []


def test_check_command_passes() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "trajotel.model_codegen", "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_proto_message_has_a_dataclass() -> None:
    assert set(trajectory_pb2.DESCRIPTOR.message_types_by_name) == set(MODEL_CLASSES)


@pytest.mark.parametrize("name", sorted(MODEL_CLASSES))
def test_fields_correspond(name: str) -> None:
    cls = MODEL_CLASSES[name]
    descriptor = trajectory_pb2.DESCRIPTOR.message_types_by_name[name]
    py_fields = {f.name: f for f in dataclasses.fields(cls)}
    proto_fields = descriptor.fields_by_name
    assert set(py_fields) - set(proto_fields) == DATACLASS_ONLY.get(name, set())
    assert set(proto_fields) - set(py_fields) == PROTO_ONLY.get(name, set())
    for field_name in set(py_fields) & set(proto_fields):
        annotation = str(py_fields[field_name].type)
        fd = proto_fields[field_name]
        is_map = fd.is_repeated and fd.message_type is not None and fd.message_type.GetOptions().map_entry
        is_struct = fd.message_type is not None and fd.message_type.full_name == "google.protobuf.Struct"
        # Repeated fields are lists, maps and Structs dicts, "optional" scalars "X | None".
        assert (fd.is_repeated and not is_map) == annotation.startswith("list["), (name, field_name)
        if not fd.is_repeated or is_map:
            assert (is_map or is_struct) == annotation.startswith("dict["), (name, field_name)
        if fd.message_type is None and not fd.is_repeated:
            assert fd.has_presence == annotation.endswith("| None"), (name, field_name)


def test_every_proto_field_is_documented() -> None:
    lines = (model_codegen.PROTO_ROOT / "trajotel/v1/trajectory.proto").read_text().splitlines()
    field_line = re.compile(r"^\s+(optional |repeated )?[\w.<>, ]+ \w+ = \d+;")
    undocumented = [
        line.strip()
        for before, line in itertools.pairwise(lines)
        if field_line.match(line) and not before.strip().startswith("//")
    ]
    assert not undocumented
