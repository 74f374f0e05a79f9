"""The programs that read exported datasets, each in its own virtualenv built from PyPI on first use.

    .venv/bin/python tests/export/formats/consumers.py [NAME ...]   # build (or reuse) them

Each export format is checked by its consumer's own code (tests/export/formats/validators/),
run by subprocess with that consumer's python. Consumers cannot share the project's venv: their
pins conflict with it and with each other (agentlightning's agentops wants httpx < 0.29,
eval-protocol pins litellm 1.105, ART wants litellm <= 1.82), and some pull torch unless
installed with ``--no-deps``. So each lives in ``.venv/consumers/NAME``:

* *overlay* consumers (``hf``, ``art``) see the project's venv through a ``.pth`` file, as
  bench/peers.py's do (``trajotel.testing.overlay_venv``), and are installed with the
  project's exact versions as constraints (they may add packages, never change one): small and
  quick to build;
* *standalone* ones (``agentlightning``, ``eval-protocol``), whose pins contradict the
  project's, get a venv of their own; the validators they run import nothing from trajotel.

A venv is rebuilt when its requirements (or the project's versions, for overlays) change. A
consumer that cannot be built raises: the tests that need it fail, they are not skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from trajotel.testing import overlay_venv

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
VENVS = REPO / ".venv" / "consumers"
VALIDATORS = HERE / "validators"

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


def ensure(consumer: Consumer) -> Path:
    """Create or refresh the consumer's venv; return its python (``overlay_venv.ensure``)."""
    folder = HERE / "consumers"
    return overlay_venv.ensure(
        VENVS / consumer.name,
        folder / consumer.requirements,
        overlay=consumer.overlay,
        no_deps=[folder / consumer.no_deps] if consumer.no_deps else [],
    )


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
