"""Virtualenvs for programs that cannot be installed into the project's venv (other
instrumentations for benchmarks, dataset consumers for tests), built from PyPI on first use.

An *overlay* venv sees the project's venv through a ``.pth`` file and is installed with the
project venv's exact versions as constraints: it may add packages, never change one. A
standalone one (``overlay=False``) has only its own packages. A venv is rebuilt when its
requirements (or, for an overlay, the project's versions) change, and building it is safe from
concurrent processes (a lock file beside it).
"""

from __future__ import annotations

import fcntl
import hashlib
import subprocess
import sys
import sysconfig
import venv
from collections.abc import Sequence
from pathlib import Path

INSTALL_TIMEOUT_S = 1800


def python_of(target: Path) -> Path:
    return target / "bin" / "python"


def _site_packages(prefix: Path) -> Path:
    return prefix / Path(sysconfig.get_path("purelib")).relative_to(sys.prefix)


def pinned_versions() -> str:
    """The project venv's exact versions, as a pip constraints file."""
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "list", "--format=freeze", "--exclude-editable"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return "".join(line + "\n" for line in frozen.splitlines() if "==" in line)


def _pip(python: Path, *args: str) -> None:
    command = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
    command += ["--disable-pip-version-check", "--no-input", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"pip install {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def ensure(target: Path, requirements: Path, *, overlay: bool = True, no_deps: Sequence[Path] = ()) -> Path:
    """Create or refresh the venv at ``target`` with ``requirements`` (then the ``no_deps``
    requirement files, installed with ``--no-deps``); return its python. Idempotent."""
    if sys.prefix == sys.base_prefix:
        raise RuntimeError("run with the project venv's python (.venv/bin/python)")
    target.parent.mkdir(parents=True, exist_ok=True)
    files = [requirements, *no_deps]
    constraints = pinned_versions() if overlay else ""
    stamp_value = hashlib.sha256(
        "\0".join([sys.prefix, constraints, *(f.read_text() for f in files)]).encode()
    ).hexdigest()
    stamp = target / ".installed"
    with open(target.parent / f"{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == stamp_value and python_of(target).exists():
            return python_of(target)
        venv.EnvBuilder(clear=True, with_pip=False).create(target)
        args = ["-r", str(requirements)]
        if overlay:
            # An ``import`` line in a .pth runs at startup; addsitedir also processes the project
            # venv's own .pth files (the editable install of trajotel).
            main_site = Path(sysconfig.get_path("purelib"))
            (_site_packages(target) / "_project_venv.pth").write_text(
                f"import site; site.addsitedir({str(main_site)!r})\n"
            )
            (target / "constraints.txt").write_text(constraints)
            args = ["-c", str(target / "constraints.txt"), *args]
        _pip(python_of(target), *args)
        for extra in no_deps:
            _pip(python_of(target), "--no-deps", "-r", str(extra))
        stamp.write_text(stamp_value)
    return python_of(target)
