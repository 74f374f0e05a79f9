"""What search indexes for a trajectory, and the embedding models that turn text into vectors.

Two stages fill the search tables of migration 0008:
* ``keywords`` (no model, on by default): the trajectory's searchable text -> trajectory_search_text;
* ``embeddings`` (when ``[enrich.embeddings] provider`` is set): the same text, cut to
  ``max_text_chars``, embedded -> trajectory_vectors.

Providers: ``openai`` (any OpenAI-compatible ``/v1/embeddings`` endpoint, through the openai SDK)
and ``fastembed`` (a local ONNX model, the optional extra ``trajotel[local-embeddings]``; it reads
the model from its cache directory and never downloads at search time when ``offline`` is set).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Protocol

from trajotel.assemble.model import Message, Trajectory
from trajotel.config import EmbeddingsConfig
from trajotel.enrich.stage import StageResult, StageSettings
from trajotel.errors import ConfigError, TrajotelError
from trajotel.store import Store
from trajotel.store.enrichments import judge_summaries
from trajotel.store.search import write_search_text, write_vectors

CUT_MARKER = " [...]"


class Embedder(Protocol):
    """Turns texts into vectors; ``model_key`` names the vector space (model and dimensions)."""

    @property
    def model_key(self) -> str: ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


# --- the text of a trajectory -------------------------------------------------------------------


def _text_of(message: Message) -> str:
    return "\n".join(p.content for p in message.parts if p.type == "text" and p.content)


def final_answer(trajectory: Trajectory) -> str:
    """The text of the last model output that has any text."""
    for turn in reversed(trajectory.turns):
        for message in reversed(turn.output_messages):
            if text := _text_of(message):
                return text
    return ""


def first_user_message(trajectory: Trajectory) -> str:
    for turn in trajectory.turns[:1]:
        for message in turn.input_messages:
            if message.role == "user" and (text := _text_of(message)):
                return text
    return ""


def trajectory_text(trajectory: Trajectory, summary: str = "", max_chars: int = 8000) -> str:
    """Task, judge summary, final answer, tools and agent, most telling first, cut at
    ``max_chars`` with a visible marker. The first user message stands in for a missing task."""
    sections = [
        trajectory.task or first_user_message(trajectory),
        summary,
        final_answer(trajectory),
        " ".join(trajectory.tools_used),
        trajectory.agent_name or "",
    ]
    text = "\n".join(s.strip() for s in sections if s and s.strip())
    if len(text) <= max_chars:
        return text
    return text[: max(0, max_chars - len(CUT_MARKER))] + CUT_MARKER


# --- providers ----------------------------------------------------------------------------------


class EmbeddingsError(TrajotelError):
    """An embeddings model could not be loaded or did not answer."""


class OpenAIEmbedder:
    """Any OpenAI-compatible ``/v1/embeddings`` endpoint, in batches of ``batch_size`` texts."""

    def __init__(self, settings: EmbeddingsConfig) -> None:
        import openai

        key = os.environ.get(settings.api_key_env, "")
        if not key:
            raise ConfigError(
                f"[enrich.embeddings] api_key_env names ${settings.api_key_env}, which is not set",
                hint="export the key, or point api_key_env at the variable that holds it",
            )
        self.model = settings.model or "text-embedding-3-small"
        self.dimensions = settings.dimensions
        self.batch_size = max(1, settings.batch_size)
        self.client = openai.OpenAI(
            api_key=key,
            base_url=settings.base_url or None,
            timeout=settings.timeout_s,
            max_retries=settings.max_retries,
        )

    @property
    def model_key(self) -> str:
        return f"{self.model}@{self.dimensions}" if self.dimensions else self.model

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        import openai

        extra: dict[str, Any] = {"dimensions": self.dimensions} if self.dimensions else {}
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            try:
                reply = self.client.embeddings.create(model=self.model, input=batch, **extra)
            except openai.OpenAIError as exc:
                raise EmbeddingsError(
                    f"embeddings request to {self.client.base_url} (model {self.model}) failed: {exc}"
                ) from exc
            if len(reply.data) != len(batch):
                raise EmbeddingsError(
                    f"embeddings endpoint {self.client.base_url} returned {len(reply.data)} vectors "
                    f"for {len(batch)} inputs"
                )
            vectors.extend(list(item.embedding) for item in sorted(reply.data, key=lambda d: d.index))
        return vectors


class FastEmbedEmbedder:
    """A local ONNX model through fastembed: no network once the model files are in ``cache_dir``."""

    def __init__(self, settings: EmbeddingsConfig) -> None:
        try:
            from fastembed import TextEmbedding
        except ImportError:
            raise ConfigError(
                '[enrich.embeddings] provider = "fastembed" needs the local-embeddings extra',
                hint="pip install 'trajotel[local-embeddings]'",
            ) from None
        self.model = settings.model or "BAAI/bge-small-en-v1.5"
        self.batch_size = max(1, settings.batch_size)
        try:
            self._model = TextEmbedding(
                model_name=self.model,
                cache_dir=settings.cache_dir or None,
                local_files_only=settings.offline,
            )
        except Exception as exc:  # fastembed raises bare ValueError/OSError for missing files
            raise EmbeddingsError(
                f"cannot load the local embeddings model {self.model!r}: {exc}",
                hint="download it once with offline = false (or copy its files into cache_dir)",
            ) from exc

    @property
    def model_key(self) -> str:
        return self.model

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [v.tolist() for v in self._model.embed(list(texts), batch_size=self.batch_size)]


PROVIDERS = {"openai": OpenAIEmbedder, "fastembed": FastEmbedEmbedder}


def embedder_from_settings(settings: EmbeddingsConfig) -> Embedder | None:
    """The configured embedder, or None when no provider is set (keyword search only)."""
    if not settings.provider:
        return None
    if settings.provider not in PROVIDERS:
        raise ConfigError(
            f"[enrich.embeddings] provider {settings.provider!r} is unknown",
            hint=f'use "" (no vectors) or one of: {", ".join(PROVIDERS)}',
        )
    return PROVIDERS[settings.provider](settings)


# --- the stages ---------------------------------------------------------------------------------


def _settings_store(settings: StageSettings) -> Store:
    if settings.store is None:
        raise ConfigError("the search stages write their own tables and need the store")
    return settings.store


class KeywordsStage:
    """Indexes each trajectory's text for keyword search (no model). With ``judge`` enabled too,
    a trajectory waits for its judgement, so the judge's summary is part of the text."""

    name = "keywords"
    version = "1"
    batch_size = 200
    group_by = None
    after = ("judge",)

    def __init__(self, settings: StageSettings) -> None:
        from trajotel.config import SearchConfig

        self.store = _settings_store(settings)
        self.max_chars = int(settings.get("index_text_chars", SearchConfig.index_text_chars))

    def run(self, batch: Sequence[Trajectory]) -> list[StageResult]:
        summaries = judge_summaries(self.store, [(t.tenant, t.id) for t in batch])
        texts = [(t, trajectory_text(t, summaries.get((t.tenant, t.id), ""), self.max_chars)) for t in batch]
        write_search_text(self.store, [(t.tenant, t.id, t.version, text) for t, text in texts])
        return [StageResult(t.id, result={"chars": len(text)}) for t, text in texts]


class EmbeddingsStage:
    """Embeds each trajectory's text with the ``[enrich.embeddings]`` model into trajectory_vectors.
    Its version names the model, so changing the model embeds everything again."""

    name = "embeddings"
    batch_size = 64
    group_by = None
    after = ("judge",)

    def __init__(self, settings: StageSettings) -> None:
        self.store = _settings_store(settings)
        self.config = EmbeddingsConfig(**dict(settings.options))
        embedder = embedder_from_settings(self.config)
        if embedder is None:
            raise ConfigError(
                'the "embeddings" stage is enabled but [enrich.embeddings] provider is empty',
                hint='set provider = "openai" or "fastembed", or remove "embeddings" from [enrich] stages',
            )
        self.embedder = embedder
        self.version = f"1:{embedder.model_key}:{self.config.max_text_chars}"

    def run(self, batch: Sequence[Trajectory]) -> list[StageResult]:
        summaries = judge_summaries(self.store, [(t.tenant, t.id) for t in batch])
        texts = [
            trajectory_text(t, summaries.get((t.tenant, t.id), ""), self.config.max_text_chars) for t in batch
        ]
        vectors = self.embedder.embed(texts)
        write_vectors(
            self.store,
            self.embedder.model_key,
            [
                (t.tenant, t.id, t.version, text, vector)
                for t, text, vector in zip(batch, texts, vectors, strict=True)
            ],
        )
        return [
            StageResult(
                t.id, result={"model": self.embedder.model_key, "dimensions": len(v), "chars": len(x)}
            )
            for t, x, v in zip(batch, texts, vectors, strict=True)
        ]
