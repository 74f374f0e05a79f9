from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from trajotel import semconv as sc
from trajotel.instrument.openai import OpenAIInstrumentor
from trajotel.testing import FakeLLMServer, Step

REASONING_SCENARIO = [Step(content="The answer is 4.", reasoning="2 + 2 = 4, so: 4.")]


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(scenarios={"fake-reasoning": REASONING_SCENARIO}) as server:
        yield server


@pytest.fixture
def span_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(span_exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    return provider


@pytest.fixture
def instrumented(tracer_provider: TracerProvider, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Tests start from trajotel's default content mode unless they set one.
    monkeypatch.delenv(sc.ENV_CAPTURE_MESSAGE_CONTENT, raising=False)
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    yield
    instrumentor.uninstrument()


@pytest.fixture
def client(fake_llm: FakeLLMServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=fake_llm.base_url, api_key="test-key", max_retries=0) as c:
        yield c
