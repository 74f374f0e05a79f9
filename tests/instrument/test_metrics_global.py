"""Metrics through the global meter provider: nothing is built while no provider is set (the
measurements would be dropped), and recording starts once one is set, without re-instrumenting.
In a subprocess: a process sets its global meter provider once."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from trajotel.testing import FakeLLMServer

PROGRAM = textwrap.dedent(
    """
    import sys
    import openai
    from opentelemetry import metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from trajotel.instrument.openai import OpenAIInstrumentor

    OpenAIInstrumentor().instrument()  # metrics from the global (still unset) provider
    client = openai.OpenAI(base_url=sys.argv[1], api_key="k", max_retries=0)
    hello = [{"role": "user", "content": "hi"}]
    client.chat.completions.create(model="fake-chat", messages=hello)  # before: dropped

    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    client.chat.completions.create(model="fake-chat", messages=hello)
    client.chat.completions.create(model="fake-chat", messages=hello)

    counts = {}
    for resource in reader.get_metrics_data().resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                counts[metric.name] = sum(p.count for p in metric.data.data_points)
    import json; print(json.dumps(counts))
    """
)


def test_metrics_start_when_a_global_meter_provider_is_set() -> None:
    with FakeLLMServer() as fake:
        done = subprocess.run(
            [sys.executable, "-c", PROGRAM, fake.base_url], capture_output=True, text=True, timeout=120
        )
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    # Two calls after the provider was set: two durations, and input + output tokens for each.
    assert counts == {"gen_ai.client.operation.duration": 2, "gen_ai.client.token.usage": 4}
