"""The quickstart, end to end on the embedded store:

1. start a scripted OpenAI-compatible server (no API key, no network),
2. start `trajotel collector` with its data in .trajotel/quickstart,
3. run examples/weather_agent.py under `opentelemetry-instrument` (no code change),
4. wait for the trajectory to be assembled and print it turn by turn,
5. stop the collector cleanly.

Run it with `make demo`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from trajotel.testing.collector_process import CollectorProcess
from trajotel.testing.fake_llm import FakeLLMServer

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / ".trajotel" / "quickstart"
BIN = Path(sys.executable).parent


def step(text: str) -> None:
    print(f"==> {text}", flush=True)


def main() -> int:
    with FakeLLMServer() as llm:
        step(f"scripted OpenAI-compatible server at {llm.base_url}")
        collector = CollectorProcess(DATA, env={"TRAJOTEL_ASSEMBLE_IDLE_TIMEOUT_S": "1"})
        step(f"starting the collector (data in {DATA.relative_to(REPO)}, embedded ClickHouse)")
        with collector:
            step(f"collector on OTLP/HTTP {collector.http_endpoint}, OTLP/gRPC {collector.grpc_endpoint}")
            env = {
                **os.environ,
                "OPENAI_BASE_URL": llm.base_url,
                "OPENAI_API_KEY": "not-needed",
                "TRAJOTEL_ENDPOINT": collector.http_endpoint,
                "OTEL_SERVICE_NAME": "weather-agent",
            }
            step("running: opentelemetry-instrument python examples/weather_agent.py")
            subprocess.run(
                [
                    str(BIN / "opentelemetry-instrument"),
                    sys.executable,
                    str(REPO / "examples" / "weather_agent.py"),
                ],
                env=env,
                check=True,
            )
            step("waiting for the trajectory to be assembled")
            deadline = time.monotonic() + 60
            rows: list = []
            while time.monotonic() < deadline and not rows:
                rows = collector.query(
                    "SELECT trajectory_id FROM trajectories WHERE status = 'complete' "
                    "ORDER BY start_time DESC LIMIT 1"
                )
                time.sleep(0.2)
            if not rows:
                print(collector.log(), file=sys.stderr)
                raise SystemExit("no trajectory was assembled; the collector log is above")
            trajectory_id = rows[0]["trajectory_id"]
            print()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "trajotel",
                    "trajectories",
                    "show",
                    trajectory_id,
                    "--data",
                    str(DATA),
                ],
                check=True,
            )
            print()
            step("stopping the collector")
        data = DATA.relative_to(REPO)
        print(f"""
Done. Explore the stored data (no collector needs to run):
  .venv/bin/trajotel trajectories list --data {data}
  .venv/bin/trajotel query "SELECT turn_index, input_tokens, tool_names FROM turns" --data {data}
  .venv/bin/trajotel query "SELECT * FROM tool_calls" --data {data}""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
