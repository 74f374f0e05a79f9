"""Issue 6's acceptance: a store filled by real agent runs (instrumented under
``opentelemetry-instrument``, against the fake LLM server, through a real collector), rated by a
verifier over REST, exported by ``trajotel export`` in every format through the running
collector; each file is accepted by its consumer's own code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from trajotel import Client
from trajotel.export.registry import load_formats
from trajotel.testing import FakeLLMServer
from trajotel.testing.collector_process import CollectorProcess

from tests.export.formats.conftest import Validate
from tests.export.formats.validators import openai_files, trae_schema
from tests.support.agent_runs import (
    BIN,
    COLLECTOR_ENV,
    OPENTELEMETRY_INSTRUMENT,
    agent_env,
    run_agent,
    wait_for,
)

PROGRAM = Path(__file__).resolve().parents[2] / "e2e" / "programs" / "task_agent.py"
TEMPLATES = ("qwen3_training", "qwen3_6_training")
# Each task several times: a run that looks things up with its tools ("default"), one that
# answers without them ("fake-chat"), one whose model call fails: groups to compare for
# preference and GRPO-style formats.
RUNS = [
    ("default", "Refund order 1182 for a broken kettle"),
    ("fake-chat", "Refund order 1182 for a broken kettle"),
    ("fake-error", "Refund order 1182 for a broken kettle"),
    ("default", "What is the weather in Paris"),
    ("fake-chat", "What is the weather in Paris"),
]


def export(
    data: Path, out: Path, fmt: str, *options: str, empty: bool = False
) -> tuple[Path, dict[str, Any]]:
    done = subprocess.run(
        [
            str(BIN / "trajotel"),
            "export",
            "--format",
            fmt,
            "--out",
            f"{out}/",
            "--data",
            str(data),
            "--json",
            *options,
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    manifest = json.loads(done.stdout)
    (info,) = manifest["files"]
    assert (info["records"] == 0) == empty, (fmt, manifest["counts"])
    return out / info["path"], manifest


def test_every_format_of_real_runs_is_accepted_by_its_consumer(
    tmp_path: Path, hf: Validate, art: Validate, agentlightning: Validate, eval_protocol: Validate
) -> None:
    data = tmp_path / "data"
    with FakeLLMServer() as fake, CollectorProcess(data, env=COLLECTOR_ENV) as collector:
        args = [arg for run in RUNS for arg in run]
        run_agent([OPENTELEMETRY_INSTRUMENT, sys.executable, str(PROGRAM), *args], agent_env(collector, fake))
        rows = wait_for(
            lambda: (
                found
                if len(
                    found := collector.query(
                        "SELECT trajectory_id, tools_used FROM trajectories WHERE status != 'running'"
                    )
                )
                == len(RUNS)
                else []
            ),
            what="every run assembled",
        )
        # A verifier rates each run over REST (the tasks need a lookup): the reward every format
        # carries.
        client = Client(collector.http_endpoint)
        for row in rows:
            client.feedback(row["trajectory_id"], 1.0 if row["tools_used"] else 0.0, source="rule")
        out = tmp_path / "out"
        checked = set()

        def exported(fmt: str, *options: str) -> Path:
            checked.add(fmt)
            path, _ = export(data, out / fmt, fmt, *options)
            return path

        for kind in ("sft", "dpo", "rft"):
            openai_files.validate(kind, exported(f"openai-{kind}"), min_examples=1)
        for kind in ("sft", "dpo", "kto", "grpo"):
            hf("hf_datasets.py", kind, exported(f"trl-{kind}"), *TEMPLATES)
            # Parquet: string arguments, loaded back as the JSONL with string arguments reads.
            expect, _ = export(data, out / f"trl-{kind}-strings", f"trl-{kind}", "--tool-arguments", "string")
            parquet, _ = export(data, out / f"trl-{kind}-parquet", f"trl-{kind}", "--file-type", "parquet")
            hf("hf_datasets.py", kind, parquet, "qwen3_training", "--expect", expect)
        hf("hf_datasets.py", "sharegpt", exported("sharegpt"), *TEMPLATES)
        verl = exported("verl")
        assert pq.read_schema(verl).equals(load_formats().get("verl").parquet_schema())
        hf("hf_datasets.py", "verl-rl", verl, *TEMPLATES)
        groups = art("art_groups.py", exported("art"))
        assert len(groups["groups"]) == 2
        agentlightning("agentlightning_triplets.py", "trajectory", exported("agent-lightning"))
        eval_protocol("fireworks_rows.py", "rft", exported("fireworks"))
        eval_protocol("fireworks_rows.py", "sft", exported("fireworks-sft"))
        trae_schema.validate(exported("trae"))
        exported("trajotel")  # lossless; its import round trip: tests/export/test_e2e.py
        # verl-sft: the agent's tools have "properties": {}, an empty object no Parquet file can
        # hold (docs/formats.md): every run is left out, and counted.
        checked.add("verl-sft")
        _, manifest = export(data, out / "verl-sft", "verl-sft", empty=True)
        assert manifest["counts"]["skipped"] == len(RUNS)
        [(reason, count)] = manifest["counts"]["skip_reasons"].items()
        assert "empty object" in reason and 0 < count <= len(RUNS), reason  # a failed run has no example
    assert checked == set(load_formats().formats), "a format without its consumer's check here"
