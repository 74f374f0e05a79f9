"""Enrichment tests: a store filled by real agent runs (the openai SDK under trajotel's
instrumentation against the fake LLM server, spans through spool -> store -> assembly), and a
fake judge: the same fake server, its replies scripted per judge model name."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import openai
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import trajotel
from trajotel.config import EnrichConfig
from trajotel.instrument.openai import OpenAIInstrumentor
from trajotel.store import Store
from trajotel.testing import FakeLLMServer
from trajotel.testing.fake_llm.scenario import Step

from tests.support.pipeline import InProcessPipeline

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": name,
            "parameters": {"type": "object", "properties": {}, "additionalProperties": True},
        },
    }
    for name in ("get_weather", "add")
]

JUDGEMENT: dict[str, Any] = {
    "summary": "The agent looked up the weather in Paris and added two numbers.",
    "outcome": "success",
    "score": 0.8,
    "reasoning": "It used the right tools and answered both questions.",
    "decisions": [
        {
            "turn_index": 0,
            "type": "tool_selection",
            "reasoning": "The weather needs a lookup.",
            "alternatives": ["answer from memory"],
            "chosen_action": "get_weather(Paris)",
            "confidence": 0.9,
        }
    ],
    "entities": [
        {
            "name": "Paris",
            "type": "city",
            "first_turn": 0,
            "importance": 0.9,
            "relations": [{"target": "weather", "relation": "has"}],
        }
    ],
}


def ranking(*scores: float) -> str:
    rankings = [
        {"candidate": "ABCDEFGH"[i], "score": s, "reasoning": f"run {i}"} for i, s in enumerate(scores)
    ]
    return json.dumps({"comparison": "the first run used the tools well", "rankings": rankings})


JUDGE_SCENARIOS = {
    "judge-good": [Step.text(json.dumps(JUDGEMENT))],
    "judge-not-json": [Step.text("I think this run went well, 8/10.")],
    "judge-wrong-shape": [Step.text(json.dumps({**JUDGEMENT, "score": 1.5, "entities": None}))],
    "judge-bad-turn": [
        Step.text(json.dumps({**JUDGEMENT, "decisions": [{**JUDGEMENT["decisions"][0], "turn_index": 99}]}))
    ],
    "judge-rate-limited": [Step.fail(429, "slow down")],
    "judge-unknown-model": [Step.fail(404, "no such model")],
    "group-2": [Step.text(ranking(0.9, 0.3))],
}


@pytest.fixture
def fake() -> Iterator[FakeLLMServer]:
    """The agents' model and the judge in one fake server."""
    with FakeLLMServer(scenarios=JUDGE_SCENARIOS) as server:
        yield server


def judge_config(fake: FakeLLMServer, model: str = "judge-good", **enrich: Any) -> EnrichConfig:
    config = EnrichConfig(**enrich)
    config.judge.model = model
    config.judge.base_url = fake.base_url
    config.judge.backoff_s = 0.01
    config.judge.max_retries = 2
    return config


def run_agent(client: openai.OpenAI, provider: TracerProvider, task: str, model: str, max_turns: int) -> None:
    """A plain tool loop inside ``trajotel.trajectory``; a failed model call fails the run."""
    try:
        with trajotel.trajectory(task=task, agent="weather-agent", tracer_provider=provider):
            messages: list[Any] = [{"role": "user", "content": task}]
            for _ in range(max_turns):
                reply = client.chat.completions.create(model=model, messages=messages, tools=TOOLS)
                message = reply.choices[0].message
                messages.append(message.model_dump(exclude_none=True))
                for call in message.tool_calls or []:
                    result = {"ok": True, "tool": call.function.name}
                    messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)})
                if not message.tool_calls:
                    return
    except openai.APIError:
        pass


def fill(
    store: Store, tmp_path: Path, fake: FakeLLMServer, runs: Sequence[tuple[str, str]], max_turns: int = 5
) -> None:
    """Record agent runs (task, agent model: "default" answers after two tools, "fake-error"
    fails) and store them as complete trajectories."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        client = openai.OpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
        for task, model in runs:
            run_agent(client, provider, task, model, max_turns)
    finally:
        instrumentor.uninstrument()
    pipeline = InProcessPipeline(store, tmp_path / f"spool-{len(list(tmp_path.iterdir()))}")
    try:
        pipeline.store_request(encode_spans(exporter.get_finished_spans()))
        pipeline.assemble()
    finally:
        pipeline.close()


def trajectory_ids(store: Store, task: str | None = None) -> list[str]:
    where = "WHERE task = {task:String}" if task else ""
    rows = store.query(f"SELECT trajectory_id FROM trajectories {where} ORDER BY start_time", {"task": task})
    return [row[0] for row in rows.rows]


def rows(store: Store, stage: str) -> list[dict[str, Any]]:
    return store.query(
        "SELECT * FROM enrichments WHERE Stage = {stage:String} ORDER BY CreatedAt", {"stage": stage}
    ).dicts()
