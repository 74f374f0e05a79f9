"""The programs that read exported datasets, each in its own virtualenv built from PyPI on first use.

    .venv/bin/python tests/export/formats/consumers.py [NAME ...]   # build (or reuse) them

Each export format is checked by its consumer's own code (tests/export/formats/validators/),
run by subprocess with that consumer's python. Consumers cannot share the project's venv: their
pins conflict with it and with each other (agentlightning's agentops wants httpx < 0.29,
eval-protocol pins litellm 1.105, ART wants litellm <= 1.82), and some pull torch unless
installed with ``--no-deps``. So each lives in ``.venv/consumers/NAME``:

* *overlay* consumers (``hf``, ``art``) see the project's venv through a ``.pth`` file, as
  bench/peers.py does, and are installed with the project's exact versions as constraints (they
  may add packages, never change one): small and quick to build;
* *standalone* ones (``agentlightning``, ``eval-protocol``), whose pins contradict the
  project's, get a venv of their own; the validators they run import nothing from trajotel.

A venv is rebuilt when its requirements (or the project's versions, for overlays) change. A
consumer that cannot be built raises: the tests that need it fail, they are not skipped.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
import sysconfig
import venv
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
VENVS = REPO / ".venv" / "consumers"
VALIDATORS = HERE / "validators"
INSTALL_TIMEOUT_S = 1800

# Validators run offline: nothing may reach a hub, a model-cost map or a telemetry endpoint.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "AGENTOPS_API_KEY": "",
    "WEAVE_DISABLED": "true",
    "WANDB_MODE": "disabled",
    "DO_NOT_TRACK": "1",
    "PYTHONNOUSERSITE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


@dataclass(frozen=True)
class Consumer:
    name: str
    requirements: str  # file in consumers/
    no_deps: str | None = None  # file in consumers/: installed with --no-deps after the rest
    overlay: bool = True  # sees the project's venv (with its versions as constraints)


CONSUMERS = {
    c.name: c
    for c in (
        Consumer("hf", "hf.txt", no_deps="hf-nodeps.txt"),
        Consumer("art", "art.txt"),
        Consumer("agentlightning", "agentlightning.txt", overlay=False),
        Consumer("eval-protocol", "eval-protocol.txt", overlay=False),
    )
}


def _site_packages(prefix: Path) -> Path:
    return prefix / Path(sysconfig.get_path("purelib")).relative_to(sys.prefix)


def _constraints() -> str:
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "list", "--format=freeze", "--exclude-editable"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return "".join(line + "\n" for line in frozen.splitlines() if "==" in line)


def python_of(consumer: Consumer) -> Path:
    return VENVS / consumer.name / "bin" / "python"


def _pip(python: Path, *args: str) -> None:
    command = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
    command += ["--disable-pip-version-check", "--no-input", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"pip install {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def ensure(consumer: Consumer) -> Path:
    """Create or refresh the consumer's venv; return its python. Idempotent and safe to call
    from concurrent processes (a lock file per consumer)."""
    if sys.prefix == sys.base_prefix:
        raise RuntimeError("run with the project venv's python (.venv/bin/python)")
    VENVS.mkdir(parents=True, exist_ok=True)
    target = VENVS / consumer.name
    files = [HERE / "consumers" / consumer.requirements]
    if consumer.no_deps:
        files.append(HERE / "consumers" / consumer.no_deps)
    constraints = _constraints() if consumer.overlay else ""
    stamp_value = hashlib.sha256(
        "\0".join([sys.prefix, constraints, *(f.read_text() for f in files)]).encode()
    ).hexdigest()
    stamp = target / ".installed"
    with open(VENVS / f"{consumer.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == stamp_value and python_of(consumer).exists():
            return python_of(consumer)
        venv.EnvBuilder(clear=True, with_pip=False).create(target)
        args = ["-r", str(files[0])]
        if consumer.overlay:
            main_site = Path(sysconfig.get_path("purelib"))
            (_site_packages(target) / "_project_venv.pth").write_text(
                f"import site; site.addsitedir({str(main_site)!r})\n"
            )
            (target / "constraints.txt").write_text(constraints)
            args = ["-c", str(target / "constraints.txt"), *args]
        _pip(python_of(consumer), *args)
        if consumer.no_deps:
            _pip(python_of(consumer), "--no-deps", "-r", str(files[1]))
        stamp.write_text(stamp_value)
    return python_of(consumer)


def run_validator(
    consumer: str, script: str, *args: str, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """``validators/<script>`` with ``args``, run by the consumer's python, offline."""
    python = ensure(CONSUMERS[consumer])
    env = {**os.environ, **OFFLINE_ENV}
    return subprocess.run(
        [str(python), str(VALIDATORS / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=VALIDATORS,
    )


def main(argv: list[str]) -> int:
    names = argv or list(CONSUMERS)
    unknown = set(names) - set(CONSUMERS)
    if unknown:
        print(f"unknown consumer(s): {', '.join(sorted(unknown))}; known: {', '.join(CONSUMERS)}")
        return 2
    for name in names:
        print(f"{name}: {ensure(CONSUMERS[name])}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
