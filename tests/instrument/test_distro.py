"""The distro: defaults for a local collector, and the example agent under opentelemetry-instrument."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk._configuration import _OTelSDKConfigurator

from trajotel import semconv as sc
from trajotel.instrument import distro
from trajotel.instrument.distro import (
    TrajotelConfigurator,
    TrajotelDistro,
    apply_defaults,
    script_service_name,
)
from trajotel.instrument.openai import OpenAIInstrumentor
from trajotel.testing import FakeLLMServer

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "weather_agent.py"
MANAGED = [*distro.DEFAULTS, "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"]


def test_defaults_fill_an_empty_environment(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/home/me/my_agent.py"])
    env: dict[str, str] = {}
    apply_defaults(env)
    assert env == {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
        sc.ENV_CAPTURE_MESSAGE_CONTENT: "SPAN_ONLY",
        "OTEL_BSP_MAX_QUEUE_SIZE": "65536",
        "OTEL_SERVICE_NAME": "my_agent",
    }


def test_user_settings_win(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["agent.py"])
    user = {
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
        sc.ENV_CAPTURE_MESSAGE_CONTENT: "NO_CONTENT",
        "OTEL_BSP_MAX_QUEUE_SIZE": "10",
        "OTEL_RESOURCE_ATTRIBUTES": "team=ml, service.name=planner",
        "TRAJOTEL_ENDPOINT": "http://ignored:1",
    }
    env = dict(user)
    apply_defaults(env)
    assert {k: env[k] for k in user} == user
    assert "OTEL_SERVICE_NAME" not in env  # service.name came through the resource attributes
    assert env["OTEL_METRICS_EXPORTER"] == "none"


def test_endpoint_choice(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["-c"])
    env = {"TRAJOTEL_ENDPOINT": "http://trajotel.internal:4318"}
    apply_defaults(env)
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://trajotel.internal:4318"
    assert "OTEL_SERVICE_NAME" not in env  # `python -c`: the SDK default stays
    env = {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    apply_defaults(env)
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:4317"


def test_distro_configures_os_environ(monkeypatch):
    for key in MANAGED:
        monkeypatch.delenv(key, raising=False)  # also restores whatever the distro sets
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    TrajotelDistro().configure()
    assert os.environ["OTEL_TRACES_EXPORTER"] == "console"
    assert os.environ["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    assert os.environ["OTEL_BSP_MAX_QUEUE_SIZE"] == "65536"


def test_script_service_name():
    assert script_service_name(["/srv/agents/weather_agent.py"], []) == "weather_agent"
    assert (
        script_service_name(["-m"], ["python", "-X", "dev", "-m", "agents.planner", "--fast"])
        == "agents.planner"
    )
    assert script_service_name(["-c"], ["python", "-c", "pass"]) is None
    assert script_service_name([""], ["python"]) is None


def test_entry_points_resolve():
    def load(group: str, name: str) -> Any:
        return next(ep for ep in entry_points(group=group) if ep.name == name).load()

    assert load("opentelemetry_instrumentor", "trajotel_openai") is OpenAIInstrumentor
    assert load("opentelemetry_distro", "trajotel") is TrajotelDistro
    assert load("opentelemetry_configurator", "trajotel") is TrajotelConfigurator
    assert issubclass(TrajotelConfigurator, _OTelSDKConfigurator)


def test_instrument_side_imports_no_collector_code():
    # The instrument package runs inside users' agents: none of the collector's modules may load.
    code = (
        "import sys, trajotel.instrument.openai, trajotel.instrument.distro, trajotel.testing.fake_llm\n"
        "bad = ('receive', 'normalize', 'store', 'assemble', 'collector', 'spool', 'cli')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[:2] in [['trajotel', b] for b in bad]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def console_spans(stdout: str) -> list[dict[str, Any]]:
    """The spans ConsoleSpanExporter printed (indented JSON objects starting on their own line)."""
    decoder = json.JSONDecoder()
    spans, position = [], 0
    while (start := stdout.find("{\n", position)) != -1:
        span, position = decoder.raw_decode(stdout, start)
        spans.append(span)
    return spans


@pytest.mark.timeout(120)
def test_example_agent_under_opentelemetry_instrument(fake_llm: FakeLLMServer):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRAJOTEL_", "OPENAI_"))}
    env.update(
        OPENAI_BASE_URL=fake_llm.base_url,
        OPENAI_API_KEY="test-key",
        OTEL_TRACES_EXPORTER="console",  # the one override: everything else is the distro's
        OTEL_LOGS_EXPORTER="none",  # no collector listens in this test
    )
    command = [str(Path(sys.executable).parent / "opentelemetry-instrument"), sys.executable, str(EXAMPLE)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr
    assert "ANSWER: It is sunny and 22 C in Paris, and 21 + 21 = 42." in done.stdout.splitlines()

    spans = console_spans(done.stdout)
    names = sorted(span["name"] for span in spans)
    assert names == [
        "chat gpt-4o-mini",
        "chat gpt-4o-mini",
        "chat gpt-4o-mini",
        "execute_tool add",
        "execute_tool get_weather",
        "invoke_agent weather-agent",
    ]
    [root] = [span for span in spans if span["parent_id"] is None]
    assert root["name"] == "invoke_agent weather-agent"
    assert root["attributes"]["trajotel.task"] == "What is the weather in Paris, and what is 21 + 21?"
    assert {span["context"]["trace_id"] for span in spans} == {root["context"]["trace_id"]}
    assert {span["parent_id"] for span in spans if span is not root} == {root["context"]["span_id"]}
    assert {span["resource"]["attributes"]["service.name"] for span in spans} == {"weather_agent"}

    chats = [span for span in spans if span["name"].startswith("chat ")]
    assert all(span["kind"] == "SpanKind.CLIENT" for span in chats)
    assert all(sc.GEN_AI_INPUT_MESSAGES in span["attributes"] for span in chats)  # SPAN_ONLY by default
    tools = {
        span["attributes"]["gen_ai.tool.name"]: span["attributes"]
        for span in spans
        if "execute_tool" in span["name"]
    }
    assert json.loads(tools["add"]["gen_ai.tool.call.arguments"]) == {"a": 21, "b": 21}
    assert json.loads(tools["add"]["gen_ai.tool.call.result"]) == {"result": 42}
    assert tools["get_weather"]["gen_ai.tool.call.id"].startswith("call_fk0x0_")
