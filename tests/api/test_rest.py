"""The REST API of a real collector process: runs sent with the OpenTelemetry OTLP/HTTP exporter,
then listed, read, patched, deleted and given feedback over HTTP (trajotel.Client, urllib, and
the SDK from another process); the OpenAPI document checked by a real validator."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from openapi_spec_validator import validate
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult

import trajotel
from trajotel.errors import InvalidInputError, NotFoundError
from trajotel.testing.collector_process import CollectorProcess

from tests.api.runs import Recorded, record_run
from tests.support.agent_runs import COLLECTOR_ENV, wait_for


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorProcess]:
    with CollectorProcess(tmp_path_factory.mktemp("rest") / "data", env=COLLECTOR_ENV) as process:
        yield process
    assert process.proc is not None and process.proc.returncode == 0, process.log()


@pytest.fixture(scope="module")
def client(collector: CollectorProcess) -> trajotel.Client:
    return trajotel.Client(collector.http_endpoint)


def send(collector: CollectorProcess, *runs: Recorded) -> list[str]:
    """Export the runs as an agent would and wait until their trajectories are complete."""
    exporter = OTLPSpanExporter(endpoint=collector.http_endpoint + "/v1/traces")
    for run in runs:
        assert exporter.export(run.spans) == SpanExportResult.SUCCESS
    exporter.shutdown()
    ids = [run.trajectory_id for run in runs]
    wait_for(
        lambda: (
            len(
                collector.query(
                    "SELECT trajectory_id FROM trajectories WHERE status = 'complete' "
                    f"AND trajectory_id IN ({', '.join(repr(i) for i in ids)})"
                )
            )
            == len(ids)
        ),
        what="complete trajectories",
    )
    return ids


def http_error(collector: CollectorProcess, method: str, path: str, body: object = None) -> tuple[int, dict]:
    with pytest.raises(urllib.error.HTTPError) as raised:
        collector.api(method, path, body)
    return raised.value.code, json.loads(raised.value.read())


def test_the_openapi_document_is_valid_openapi_3_1(client: trajotel.Client) -> None:
    document = client.openapi()
    validate(document)  # raises on any violation of the OpenAPI 3.1 schema
    assert document["openapi"] == "3.1.0"
    operations = {(m.upper(), p) for p, item in document["paths"].items() for m in item if m != "parameters"}
    assert {
        ("GET", "/v1/trajectories"),
        ("GET", "/v1/trajectories/{id}"),
        ("PATCH", "/v1/trajectories/{id}"),
        ("DELETE", "/v1/trajectories/{id}"),
        ("POST", "/v1/trajectories/{id}/feedback"),
        ("GET", "/v1/trajectories/{id}/feedback"),
        ("POST", "/v1/query"),
    } <= operations


def test_list_filters_and_pages(collector: CollectorProcess, client: trajotel.Client) -> None:
    paris, tokyo, rome = send(
        collector,
        record_run("Weather in Paris", agent="weather", reward=1.0),
        record_run("Weather in Tokyo", agent="weather", reward=0.0),
        record_run("Trains to Rome", agent="travel", reward=0.5),
    )
    mine = {paris, tokyo, rome}

    def ids(**filters: object) -> set[str]:
        return {row["trajectory_id"] for row in client.list(limit=100, **filters)} & mine

    assert ids(agent="weather") == {paris, tokyo}
    assert ids(agent=["weather", "travel"]) == mine
    assert ids(min_reward=0.5) == {paris, rome}
    assert ids(min_reward=0.1, max_reward=0.9) == {rome}
    assert ids(outcome="failure") == {tokyo}  # a reward of 0 without an outcome is a failure
    assert ids(task="weather in") == {paris, tokyo}
    assert ids(service="feedback-tests", status="complete") == mine
    assert ids(until="2000-01-01T00:00:00Z") == set() and ids(since="2000-01-01") == mine
    assert ids(min_confidence=0.95) == set() and ids(min_confidence=0.9) == mine

    client.patch(paris, add_tags=["golden", "eu"])
    client.patch(rome, add_tags=["eu"])
    assert ids(tag="eu") == {paris, rome} and ids(tag=["eu", "golden"]) == {paris}

    first_page = client.list(limit=2, agent="weather,travel")
    paged = list(client.iter(page_size=2, agent="weather,travel"))
    assert len(first_page) == 2 and paged[:2] == first_page
    assert {row["trajectory_id"] for row in paged} >= mine and len(paged) == len(
        {r["trajectory_id"] for r in paged}
    )


def test_feedback_over_rest_changes_the_reward_readers_see(
    collector: CollectorProcess, client: trajotel.Client
) -> None:
    (tid,) = send(collector, record_run("Reviewed run", reward=0.2, turns=2))
    assert client.get(tid).reward == 0.2

    record = client.feedback(tid, 0.9, source="human", author="ana", comment="good enough")
    assert record["source"] == "human" and record["trajectory_id"] == tid
    client.feedback(tid, 0.1, source="llm_judge", turn_index=1)
    again = client.feedback(tid, 0.9, source="human", author="ana", comment="good enough")  # a retry
    assert again == record

    trajectory = client.get(tid)
    assert trajectory.reward == 0.9
    assert [t.reward for t in trajectory.turns] == [None, 0.1]
    assert [(f["source"], f["value"]) for f in client.list_feedback(tid)] == [
        ("human", 0.9),
        ("llm_judge", 0.1),
    ]
    (row,) = collector.query(
        f"SELECT reward, reward_source, human_reviewed FROM trajectories WHERE trajectory_id = '{tid}'"
    )
    assert row == {"reward": 0.9, "reward_source": "human", "human_reviewed": True}
    assert {r["trajectory_id"] for r in client.list(min_reward=0.85)} >= {tid}


def test_delete_over_rest_hides_the_run_and_its_sub_agents(
    collector: CollectorProcess, client: trajotel.Client
) -> None:
    (tid,) = send(collector, record_run("Delete me", sub_agent=True))
    (child,) = collector.query(f"SELECT trajectory_id FROM trajectories WHERE parent_trajectory_id = '{tid}'")
    assert client.get(child["trajectory_id"]).parent_trajectory_id == tid  # a '/' in the path works

    assert client.delete(tid) == {"deleted": tid, "tenant": "default", "purged": False}
    for gone in (tid, child["trajectory_id"]):
        with pytest.raises(NotFoundError, match="no trajectory"):
            client.get(gone)
        assert collector.query(f"SELECT 1 FROM trajectories WHERE trajectory_id = '{gone}'") == []
    assert tid not in {r["trajectory_id"] for r in client.list(limit=1000)}
    with pytest.raises(NotFoundError):
        client.feedback(tid, 1.0)


def test_bad_requests_say_which_field(collector: CollectorProcess, client: trajotel.Client) -> None:
    (tid,) = send(collector, record_run("Errors", turns=1))
    status, body = http_error(collector, "GET", "/v1/trajectories?min_reward=high")
    assert status == 400 and body["error"] == "min_reward must be a number, not 'high'"
    status, body = http_error(collector, "GET", "/v1/trajectories?agnet=weather")
    assert status == 400 and "unknown query parameter 'agnet'" in body["error"]
    status, body = http_error(collector, "GET", "/v1/trajectories?since=yesterday")
    assert status == 400 and body["error"].startswith("since must be an ISO 8601 time")
    status, body = http_error(collector, "GET", "/v1/trajectories?limit=100000")
    assert status == 400 and body["error"].startswith("limit must be an integer from 0 to 1000")
    status, body = http_error(
        collector, "POST", f"/v1/trajectories/{tid}/feedback", {"value": 1, "turn_index": 5}
    )
    assert status == 400 and body["error"] == f"turn_index 5: trajectory '{tid}' has 1 turns"
    status, body = http_error(collector, "POST", f"/v1/trajectories/{tid}/feedback", {"score": 1})
    assert status == 400 and "unknown feedback field 'score'" in body["error"]
    status, body = http_error(collector, "PATCH", f"/v1/trajectories/{tid}", {"outcome": "meh"})
    assert status == 400 and "outcome.label must be one of" in body["error"]
    status, body = http_error(collector, "GET", "/v1/trajectories/nope")
    assert (status, body["error"]) == (404, "no trajectory 'nope'")
    with pytest.raises(InvalidInputError, match="feedback value must be a finite number"):
        client.feedback(tid, float("inf"))


def test_the_sdk_from_another_process_after_the_run(collector: CollectorProcess, tmp_path: Path) -> None:
    (tid,) = send(collector, record_run("Graded later", reward=0.3))
    script = tmp_path / "grade.py"
    script.write_text(
        "import sys, trajotel\n"
        "tid = sys.argv[1]\n"
        "trajotel.feedback(tid, 1.0, source='rule', comment='unit tests pass')\n"
        "summary = trajotel.Client().patch(\n"
        "    tid, outcome='success', outcome_reason='graded', metadata={'grader': 'ci'}\n"
        ")\n"
        "print(summary['outcome'], summary['metadata']['grader'])\n"
    )
    env = {"PATH": "/usr/bin:/bin", "TRAJOTEL_ENDPOINT": collector.http_endpoint}
    done = subprocess.run(
        [sys.executable, str(script), tid], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["success", "ci"]
    trajectory = trajotel.Client(collector.http_endpoint).get(tid)
    # "run" is stronger than "rule" by default: the run's own reward stands.
    assert trajectory.reward == 0.3 and [f.comment for f in trajectory.feedback] == ["unit tests pass"]
    assert (trajectory.outcome.label, trajectory.outcome.reasons) == ("success", ["graded"])
    assert trajectory.metadata == {"grader": "ci"}
