"""Other OpenTelemetry instrumentations of the openai SDK, each in its own overlay virtualenv.

    .venv/bin/python bench/peers.py [--json] [NAME ...]      # create (or reuse) the envs

All three peers register the same ``opentelemetry_instrumentor`` entry point name (``openai``),
so ``opentelemetry-instrument`` would load every installed one and
``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` cannot pick one; installed into the project's venv they
would also change what every other ``opentelemetry-instrument`` run records. So each peer lives
in ``.venv/peers/NAME``: a venv that sees the project's venv (trajotel, openai, the OTel SDK)
through a ``.pth`` file and holds only the peer's own packages, installed from PyPI with the
project venv's versions as constraints (a peer can never change them).

Prints, per peer, its python and the ``opentelemetry-instrument`` command line prefix, or with
``--json`` a JSON object that tests and benchmarks read.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import sysconfig
import venv
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PEERS_DIR = REPO / ".venv" / "peers"


@dataclass(frozen=True)
class Peer:
    name: str
    requirements: str  # file in bench/
    instrumentor: str  # "module:Class", a BaseInstrumentor
    # What turns message content capture on (on the span where the peer supports it).
    content_env: dict[str, str] = field(default_factory=dict)


PEERS = {
    peer.name: peer
    for peer in (
        Peer(
            "openai-v2",
            "requirements-peer-openai-v2.txt",
            "opentelemetry.instrumentation.openai_v2:OpenAIInstrumentor",
            {
                "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
                "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY",
            },
        ),
        Peer(
            "openllmetry",
            "requirements-peer-openllmetry.txt",
            "opentelemetry.instrumentation.openai:OpenAIInstrumentor",
            {"TRACELOOP_TRACE_CONTENT": "true"},
        ),
        Peer(
            "openinference",
            "requirements-peer-openinference.txt",
            "openinference.instrumentation.openai:OpenAIInstrumentor",
            {"OPENINFERENCE_HIDE_INPUTS": "false", "OPENINFERENCE_HIDE_OUTPUTS": "false"},
        ),
    )
}


def _site_packages(prefix: Path) -> Path:
    relative = Path(sysconfig.get_path("purelib")).relative_to(sys.prefix)
    return prefix / relative


def _constraints() -> str:
    """The project venv's exact versions: a peer's install may add packages, never change one."""
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "list", "--format=freeze", "--exclude-editable"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return "".join(line + "\n" for line in frozen.splitlines() if "==" in line)


def python_of(peer: Peer) -> Path:
    return PEERS_DIR / peer.name / "bin" / "python"


def ensure(peer: Peer) -> Path:
    """Create or refresh the peer's overlay venv; return its python. Idempotent."""
    if sys.prefix == sys.base_prefix:
        raise SystemExit("run bench/peers.py with the project venv's python (.venv/bin/python)")
    target = PEERS_DIR / peer.name
    constraints = _constraints()
    requirements = (BENCH / peer.requirements).read_text()
    stamp_value = hashlib.sha256((sys.prefix + constraints + requirements).encode()).hexdigest()
    stamp = target / ".installed"
    if stamp.exists() and stamp.read_text() == stamp_value and python_of(peer).exists():
        return python_of(peer)
    venv.EnvBuilder(clear=True, with_pip=False).create(target)
    # An ``import`` line in a .pth runs at startup; addsitedir also processes the project venv's
    # own .pth files (the editable install of trajotel).
    main_site = Path(sysconfig.get_path("purelib"))
    (_site_packages(target) / "_project_venv.pth").write_text(
        f"import site; site.addsitedir({str(main_site)!r})\n"
    )
    constraints_file = target / "constraints.txt"
    constraints_file.write_text(constraints)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python_of(peer)),
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-c",
            str(constraints_file),
            "-r",
            str(BENCH / peer.requirements),
        ],
        check=True,
    )
    stamp.write_text(stamp_value)
    return python_of(peer)


def instrument_command(python: Path) -> list[str]:
    """``opentelemetry-instrument`` run by ``python`` (the overlay venv has no console scripts)."""
    code = "import sys; from opentelemetry.instrumentation.auto_instrumentation import run; sys.exit(run())"
    return [str(python), "-c", code]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"default: all of {', '.join(PEERS)}")
    parser.add_argument("--json", action="store_true", help="print a JSON object per peer name")
    args = parser.parse_args(argv)
    unknown = set(args.names) - set(PEERS)
    if unknown:
        parser.error(f"unknown peer(s): {', '.join(sorted(unknown))}")
    result = {}
    for name in args.names or PEERS:
        peer = PEERS[name]
        python = ensure(peer)
        result[name] = {**asdict(peer), "python": str(python), "instrument": instrument_command(python)}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for name, info in result.items():
            print(f"{name}: {info['python']}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PIP_NO_INPUT", "1")
    sys.exit(main())
