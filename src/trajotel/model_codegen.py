"""Regenerate the checked-in Python code for ``proto/trajotel/v1/*.proto``.

    python -m trajotel.model_codegen           # rewrite src/trajotel/proto/...
    python -m trajotel.model_codegen --check   # exit 1 and name the stale files

The code is generated with ``-I proto`` into ``src/trajotel/proto``, so a proto file
``trajotel/v1/x.proto`` becomes the module ``trajotel.proto.trajotel.v1.x_pb2`` and its
descriptor keeps the name ``trajotel/v1/x.proto`` that other languages use too. The protos import
only google/protobuf well-known types, whose Python modules ship with protobuf, so the generated
imports resolve without rewriting.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from trajotel.errors import TrajotelError

REPO_ROOT = Path(__file__).resolve().parents[2]
PROTO_ROOT = REPO_ROOT / "proto"
OUT_ROOT = REPO_ROOT / "src" / "trajotel" / "proto"
_GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi")


def proto_files(proto_root: Path = PROTO_ROOT) -> list[str]:
    """The .proto files under ``proto_root``, relative to it, sorted (stable protoc input)."""
    if not proto_root.is_dir():
        raise TrajotelError(
            f"no proto directory at {proto_root}",
            hint="run the code generator from a source checkout of trajotel",
        )
    return sorted(p.relative_to(proto_root).as_posix() for p in proto_root.rglob("*.proto"))


def generate(out_dir: Path, proto_root: Path = PROTO_ROOT) -> list[str]:
    """Run protoc into ``out_dir``; return the generated files and package ``__init__.py`` files
    (relative paths). ``python -m grpc_tools.protoc`` adds the well-known-types include itself."""
    protos = proto_files(proto_root)
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{proto_root}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        *protos,
    ]
    done = subprocess.run(cmd, cwd=proto_root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise TrajotelError(
            f"protoc failed ({done.returncode}): {done.stderr.strip()}",
            hint="install the dev extras (pip install -e '.[dev]') and fix the .proto file",
        )
    files = sorted(
        p.relative_to(out_dir).as_posix()
        for p in out_dir.rglob("*")
        if p.is_file() and p.name.endswith(_GENERATED_SUFFIXES)
    )
    # Each directory down to the generated modules must be a package for the imports to work.
    packages = {Path(f).parent for f in files}
    for pkg in list(packages):
        packages.update(pkg.parents)
    for pkg in packages:
        (out_dir / pkg / "__init__.py").touch()
    return sorted(files + [(pkg / "__init__.py").as_posix() for pkg in packages])


def stale_files(out_root: Path = OUT_ROOT, proto_root: Path = PROTO_ROOT) -> list[str]:
    """Files under ``out_root`` that differ from a fresh generation, are missing, or were
    generated from a .proto that no longer exists."""
    with tempfile.TemporaryDirectory() as tmp:
        return _compare(Path(tmp), generate(Path(tmp), proto_root), out_root)


def write(out_root: Path = OUT_ROOT, proto_root: Path = PROTO_ROOT) -> list[str]:
    """Regenerate into ``out_root``; return the files that changed. Generates into a temporary
    directory first so a protoc error leaves the checked-in code untouched."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh_root = Path(tmp)
        fresh = generate(fresh_root, proto_root)
        changed = _compare(fresh_root, fresh, out_root)
        for rel in changed:
            target = out_root / rel
            if rel not in fresh:
                target.unlink()
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(fresh_root / rel, target)
    return changed


def _compare(fresh_root: Path, fresh: list[str], out_root: Path) -> list[str]:
    stale = [f for f in fresh if not _same(fresh_root / f, out_root / f)]
    orphans = [
        p.relative_to(out_root).as_posix()
        for p in out_root.rglob("*")
        if p.is_file() and p.name.endswith(_GENERATED_SUFFIXES)
    ]
    return sorted(stale + [f for f in orphans if f not in fresh])


def _same(fresh: Path, checked_in: Path) -> bool:
    if not checked_in.is_file():
        return False
    # Package __init__.py files may carry a docstring; only their existence matters.
    return checked_in.name == "__init__.py" or fresh.read_bytes() == checked_in.read_bytes()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m trajotel.model_codegen", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the checked-in code is stale")
    args = parser.parse_args(argv)
    try:
        if args.check:
            stale = stale_files()
            for rel in stale:
                print(f"stale: {OUT_ROOT / rel}")
            if stale:
                print("run `make proto` (python -m trajotel.model_codegen) and commit the result")
            return 1 if stale else 0
        for rel in write():
            print(f"wrote: {OUT_ROOT / rel}")
        return 0
    except TrajotelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
