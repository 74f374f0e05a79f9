"""``POST /v1/trajectories/search`` served by the collector's real HTTP receiver."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from trajotel.collector import api_search, openapi
from trajotel.collector.ingest import SpoolSink
from trajotel.config import Config, ReceiveConfig
from trajotel.enrich.embed import EmbeddingsStage
from trajotel.enrich.stage import StageSettings
from trajotel.receive.http_server import HttpReceiver
from trajotel.spool import Spool
from trajotel.store import Store
from trajotel.testing import FakeLLMServer

from tests.search.conftest import RUNS, embeddings_config, store_runs


def serve(store: Store, config: Config, spool_dir: Path) -> Iterator[str]:
    spool = Spool(spool_dir, max_bytes=1 << 20, segment_bytes=1 << 20)
    receiver = HttpReceiver(SpoolSink(spool), ReceiveConfig(http_port=0), api_search.routes(store, config))
    port = receiver.start()
    try:
        yield f"http://127.0.0.1:{port}{api_search.PATH}"
    finally:
        receiver.stop()
        spool.close()


@pytest.fixture
def url(store: Store, tmp_path: Path) -> Iterator[str]:
    store_runs(store, RUNS)
    yield from serve(store, Config(), tmp_path / "spool")


def post(url: str, body: object) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_keyword_search_over_http(url: str) -> None:
    status, body = post(url, {"query": "refund order", "k": 2, "max_score": 0.5})
    assert status == 200, body
    assert body["mode"] == "keyword"
    [hit] = body["hits"]  # only the failing refund scores at most 0.5
    assert hit["trajectory_id"] == "refund-fail" and hit["score_source"] == "outcome"
    assert hit["why"][0].startswith("keyword rank 1: matched")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"k": 3}, '"query" must be a non-empty string'),
        ({"query": "x", "k": "3"}, '"k" must be an integer'),
        ({"query": "x", "size": 3}, "unknown field 'size'"),
        ({"query": "x", "filters": {"agent": 1}}, '"filters" must be an object of strings'),
        ({"query": "x", "mode": "vector"}, "vector search needs an embeddings model"),
    ],
)
def test_bad_requests_get_400_naming_the_field(url: str, body: dict, message: str) -> None:
    status, answer = post(url, body)
    assert status == 400
    assert message in answer["error"]


def test_hybrid_search_over_http_uses_the_configured_model(
    store: Store, tmp_path: Path, fake_embeddings: FakeLLMServer
) -> None:
    config = Config()
    config.enrich.embeddings = embeddings_config(fake_embeddings)
    store_runs(store, RUNS)
    EmbeddingsStage(StageSettings(store=store, options=config.enrich.embeddings.__dict__)).run(RUNS)
    for url in serve(store, config, tmp_path / "spool"):
        status, body = post(url, {"query": "refund broken kettle", "k": 4})
        assert status == 200, body
        assert body["mode"] == "hybrid"
        assert {hit["trajectory_id"] for hit in body["hits"]} == {t.id for t in RUNS}
        assert all(hit["vector_similarity"] is not None for hit in body["hits"])
    embedding_requests = [r for r in fake_embeddings.requests if r["path"] == "/v1/embeddings"]
    assert embedding_requests[-1]["body"]["input"] == ["refund broken kettle"]


def test_the_openapi_document_describes_the_route() -> None:
    document = openapi.document([api_search])
    operation = document["paths"][api_search.PATH]["post"]
    assert operation["operationId"] == "searchTrajectories"
    assert set(document["components"]["schemas"]) >= {"SearchRequest", "SearchHit"}
