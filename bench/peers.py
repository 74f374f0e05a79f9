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
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from trajotel.testing import overlay_venv

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


def ensure(peer: Peer) -> Path:
    """Create or refresh the peer's overlay venv; return its python. Idempotent."""
    return overlay_venv.ensure(PEERS_DIR / peer.name, BENCH / peer.requirements)


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
