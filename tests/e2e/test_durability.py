"""Acceptance: killing the collector with SIGKILL during ingest and restarting it loses no
acknowledged span, and an exporter re-sending everything afterwards duplicates nothing."""

from __future__ import annotations

import http.client
import threading
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from trajotel.spool import Spool
from trajotel.testing.collector_process import CollectorProcess

from tests.support.agent_runs import wait_for
from tests.support.agent_spans import record_agent_run

RUNS = 60


def _post(port: int, body: bytes) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def _children(pid: int) -> list[int]:
    """Direct child processes (the writer's worker processes, multiprocessing's helpers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue  # exited meanwhile
        if f"\nPPid:\t{pid}\n" in status:
            found.append(int(entry.name))
    return found


def _span_ids(request: ExportTraceServiceRequest) -> set[str]:
    return {s.span_id.hex() for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans}


def test_sigkill_during_ingest_loses_no_acknowledged_span(tmp_path: Path) -> None:
    runs = [record_agent_run() for _ in range(RUNS)]
    bodies = [(run.trace_id, run.request()) for run in runs]
    env = {
        "TRAJOTEL_ASSEMBLE_IDLE_TIMEOUT_S": "0.5",
        "TRAJOTEL_WRITER_FLUSH_INTERVAL_S": "5.0",
        "TRAJOTEL_WRITER_WORKERS": "2",
    }
    data = tmp_path / "data"
    collector = CollectorProcess(data, env=env).start()

    acknowledged: list[tuple[str, ExportTraceServiceRequest]] = []
    halfway = threading.Event()

    def send() -> None:
        for trace_id, request in bodies:
            try:
                status = _post(collector.http_port, request.SerializeToString())
            except OSError:
                return  # the collector is gone: this one was not acknowledged
            if status == 200:
                acknowledged.append((trace_id, request))
            if len(acknowledged) == RUNS // 2:
                halfway.set()

    sender = threading.Thread(target=send)
    sender.start()
    try:
        assert halfway.wait(60), collector.log()
        assert collector.proc is not None
        children = _children(collector.proc.pid)
        assert children  # two writer workers (and multiprocessing's resource tracker)
    finally:
        collector.kill()  # mid-stream, with batches in the spool not yet in the store
        sender.join(60)
    # Its worker processes notice and exit too: nothing is left behind.
    wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in children), what="workers to exit")
    assert RUNS // 2 <= len(acknowledged) < RUNS + 1
    # The kill hit while acknowledged requests were only in the spool (the writer batches for 5 s).
    spool = Spool(data / "spool", max_bytes=0, segment_bytes=1 << 26)
    assert spool.unconsumed_bytes() > 0
    spool.close()

    restarted = CollectorProcess(data, env=env)
    restarted.grpc_port, restarted.http_port = collector.grpc_port, collector.http_port
    with restarted:
        expected = set().union(*(_span_ids(r) for _, r in acknowledged))

        def stored() -> set[str]:
            return {r["SpanId"] for r in restarted.query("SELECT DISTINCT SpanId FROM spans")}

        wait_for(lambda: expected <= stored(), what="every acknowledged span")
        traces = {t for t, _ in acknowledged}
        wait_for(
            lambda: (
                {
                    r["trajectory_id"]
                    for r in restarted.query(
                        "SELECT trajectory_id FROM trajectories WHERE status = 'complete'"
                    )
                }
                >= traces
            ),
            what="trajectories of every acknowledged run",
        )
        # Only finished ones: a run whose request was spooled but never acknowledged may still be
        # completing, which legitimately makes one more version.
        before = restarted.query(
            "SELECT trajectory_id, version, turn_count FROM trajectories WHERE status = 'complete' ORDER BY 1"
        )

        # The exporter never saw some acknowledgements and re-sends everything it had.
        for _, request in bodies:
            assert _post(restarted.http_port, request.SerializeToString()) == 200
        wait_for(
            lambda: len(restarted.query("SELECT trajectory_id FROM trajectories")) == RUNS,
            what="every run assembled",
        )
        wait_for(
            lambda: (
                restarted.query("SELECT count() AS n FROM trajectories WHERE status != 'complete'")[0]["n"]
                == 0
            ),
            what="completion",
        )
        after = {
            r["trajectory_id"]: r
            for r in restarted.query("SELECT trajectory_id, version, turn_count FROM trajectories")
        }
        for row in before:
            assert after[row["trajectory_id"]] == row  # re-sent spans made no new version
        assert {r["turn_count"] for r in after.values()} == {3}
        turns = restarted.query("SELECT count() AS n FROM turns")[0]["n"]
        assert turns == 3 * RUNS
    assert restarted.proc is not None and restarted.proc.returncode == 0
