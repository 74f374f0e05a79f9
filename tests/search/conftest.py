"""Stored trajectories for the search tests: written by the store's own writer (as the assembler
writes them), indexed by the real ``keywords`` / ``embeddings`` stages."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from trajotel.assemble.model import Message, Outcome, Part, Trajectory, Turn
from trajotel.config import EmbeddingsConfig
from trajotel.enrich.embed import EmbeddingsStage, KeywordsStage
from trajotel.enrich.stage import StageSettings
from trajotel.store import Store
from trajotel.store.trajectories import write_trajectories
from trajotel.testing import FakeLLMServer


def run(trajectory_id: str, task: str, answer: str, outcome: str = "success", version: int = 1) -> Trajectory:
    """A complete one-turn run: the user asks ``task``, the model answers ``answer``."""
    turn = Turn(
        index=0,
        trace_id=trajectory_id,
        span_id="0" * 16,
        input_messages=[Message("user", [Part("text", content=task)])],
        output_messages=[Message("assistant", [Part("text", content=answer)])],
    )
    return Trajectory(
        id=trajectory_id,
        version=version,
        task=task,
        agent_name="support-agent",
        status="complete",
        outcome=Outcome(label=outcome, confidence=0.9, reasons=["test"]),
        trace_ids=[trajectory_id],
        start_time_unix_nano=1_767_225_600 * 10**9,  # 2026-01-01
        end_time_unix_nano=1_767_225_660 * 10**9,
        turns=[turn],
    )


RUNS = [
    run("refund-ok", "Refund order 1182 for a broken kettle", "Refund issued for order 1182."),
    run(
        "refund-fail", "Refund order 2210 for a lost parcel", "I could not reach the payments API.", "failure"
    ),
    run("weather", "What is the weather in Paris", "It is sunny in Paris."),
    run("kettle", "Which kettle should I buy", "The steel kettle is the best buy."),
]


def store_runs(store: Store, runs: Sequence[Trajectory]) -> None:
    write_trajectories(store, [(t, f"fp-{t.id}-{t.version}") for t in runs], set())
    KeywordsStage(StageSettings(store=store)).run(runs)


def embeddings_config(fake: FakeLLMServer) -> EmbeddingsConfig:
    return EmbeddingsConfig(provider="openai", model="fake-embed", base_url=fake.base_url, dimensions=16)


@pytest.fixture
def fake_embeddings(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLMServer]:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with FakeLLMServer() as fake:
        yield fake


def embed_runs(store: Store, fake: FakeLLMServer, runs: Sequence[Trajectory]) -> EmbeddingsStage:
    options = embeddings_config(fake).__dict__
    stage = EmbeddingsStage(StageSettings(store=store, options=options))
    results = stage.run(runs)
    assert [r.error for r in results] == [None] * len(runs)
    return stage


@pytest.fixture(scope="module")
def empty_store(store_root: Path) -> Iterator[Store]:
    """One migrated store for the tests that only need the schema (migrating takes seconds)."""
    opened = Store.open(f"chdb://{store_root}", database=f"t_{uuid.uuid4().hex[:12]}")
    try:
        yield opened
    finally:
        opened.command(f"DROP DATABASE IF EXISTS {opened.database}")
        opened.close()
