"""Which traces make one trajectory: pure grouping over the traces' keys."""

from __future__ import annotations

import itertools
import random
from typing import Any

from opentelemetry.trace import SpanKind, set_span_in_context

from trajotel.assemble.linking import (
    MODE_CONVERSATION,
    MODE_HISTORY,
    MODE_STANDALONE,
    MessageIdentities,
    TraceLinks,
    group_traces,
    link_trace,
)
from trajotel.testing import FakeLLMServer

from tests.assemble.flat_agent import FlatRun, run_flat_agents
from tests.assemble.span_rows import messages, recording, to_rows

MS = 1_000_000


def _links(traces: list[list[Any]]) -> list[TraceLinks]:
    out = []
    for trace in traces:
        rows, contents = to_rows(trace)
        out.append(link_trace(("default", rows[0]["TraceId"]), rows, MessageIdentities(contents)))
    return out


def _groups(run: FlatRun, links: list[TraceLinks]) -> list[list[int]]:
    """Agent numbers of the traces, per trajectory, trajectories in order of their first call."""
    grouping = group_traces(links)
    index = {run.trace_id(t): i for i, t in enumerate(run.traces)}
    members: dict[str, list[int]] = {}
    for (_tenant, trace), trajectory in grouping.items():
        members.setdefault(trajectory, []).append(index[trace])
    for trajectory, found in members.items():
        assert trajectory == run.trace_id(run.traces[min(found)])  # id: the earliest trace's
    return sorted(sorted(found) for found in members.values())


def test_a_flat_loop_is_one_trajectory_whatever_the_order(fake_llm: FakeLLMServer) -> None:
    run = run_flat_agents(fake_llm, ["Weather in Paris, and 21 + 21?"])
    links = _links(run.traces)
    assert [link.mode for link in links] == [MODE_HISTORY] * 3
    for permutation in itertools.permutations(links):
        assert _groups(run, list(permutation)) == [[0, 1, 2]]
    # The middle call missing: the last one still continues the first.
    assert group_traces([links[0], links[2]]) == {
        links[0].key: links[0].key[1],
        links[2].key: links[0].key[1],
    }


def test_interleaved_agents_with_different_histories_are_never_mixed(fake_llm: FakeLLMServer) -> None:
    run = run_flat_agents(fake_llm, ["Weather in Paris?", "Weather in Oslo?", "Weather in Rome?"])
    links = _links(run.traces)
    random.Random(3).shuffle(links)
    expected = [[i for i, a in enumerate(run.agent_of) if a == agent] for agent in range(3)]
    assert _groups(run, links) == expected


def test_a_changed_system_prompt_starts_a_new_trajectory(fake_llm: FakeLLMServer) -> None:
    run = run_flat_agents(fake_llm, ["Weather in Paris?"], system=["Be brief.", "Be brief.", "Be verbose."])
    assert _groups(run, _links(run.traces)) == [[0, 1], [2]]


def test_other_services_and_tenants_do_not_thread(fake_llm: FakeLLMServer) -> None:
    run = run_flat_agents(fake_llm, ["Weather in Paris?"], service="one")
    rows, contents = to_rows(run.traces[1])
    moved = [{**r, "ServiceName": "two"} for r in rows]
    first = _links(run.traces[:1])[0]
    other_service = link_trace(("default", rows[0]["TraceId"]), moved, MessageIdentities(contents))
    other_tenant = link_trace(("acme", rows[0]["TraceId"]), rows, MessageIdentities(contents))
    for second in (other_service, other_tenant):
        assert len(set(group_traces([first, second]).values())) == 2
    same = link_trace(("default", rows[0]["TraceId"]), rows, MessageIdentities(contents))
    assert len(set(group_traces([first, same]).values())) == 1


def _chat(tracer: Any, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]], **extra: Any) -> Any:
    parent = extra.pop("parent", None)
    start, end = extra.pop("start", None), extra.pop("end", None)
    span = tracer.start_span(
        "chat m",
        context=set_span_in_context(parent) if parent is not None else None,
        kind=SpanKind.CLIENT,
        start_time=start,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "m",
            "gen_ai.input.messages": messages(inputs),
            "gen_ai.output.messages": messages(outputs),
            **extra,
        },
    )
    span.end(end_time=end)
    return span


def _text(role: str, text: str, **extra: Any) -> dict[str, Any]:
    return {"role": role, "parts": [{"type": "text", "content": text}], **extra}


def _trace_links(build: Any) -> TraceLinks:
    with recording() as (tracer, spans):
        build(tracer)
    return _links([spans])[0]


def test_a_compacted_history_starts_a_new_trajectory() -> None:
    user, answer = _text("user", "Plan a trip."), _text("assistant", "Day 1: ...", finish_reason="stop")
    first = _trace_links(lambda t: _chat(t, [user], [answer]))
    follow = _text("user", "And day 2?")
    second = _trace_links(lambda t: _chat(t, [user, answer, follow], [_text("assistant", "Day 2: ...")]))
    summary = _text("user", "Summary so far: a trip, days 1 and 2 planned. Continue.")
    compacted = _trace_links(lambda t: _chat(t, [summary], [_text("assistant", "Day 3: ...")]))
    grouping = group_traces([compacted, second, first])
    assert grouping[second.key] == grouping[first.key] == first.key[1]
    assert grouping[compacted.key] == compacted.key[1]


def test_the_echoed_answer_matches_without_finish_reason_and_reasoning() -> None:
    user = _text("user", "Hi")
    said = {
        "role": "assistant",
        "parts": [{"type": "reasoning", "content": "greet"}, {"type": "text", "content": "Hello"}],
        "finish_reason": "stop",
    }
    echoed = {
        "role": "assistant",
        "parts": [{"type": "text", "content": "Hello"}, {"type": "text", "content": ""}],
    }
    first = _trace_links(lambda t: _chat(t, [user], [said]))
    second = _trace_links(
        lambda t: _chat(t, [user, echoed, _text("user", "Bye")], [_text("assistant", "Bye")])
    )
    assert len(set(group_traces([first, second]).values())) == 1


def test_conversation_id_groups_traces_and_an_agent_root_stands_alone() -> None:
    conversation = {"gen_ai.conversation.id": "conv-42"}
    a = _trace_links(lambda t: _chat(t, [_text("user", "a")], [_text("assistant", "A")], **conversation))
    b = _trace_links(lambda t: _chat(t, [_text("user", "b")], [_text("assistant", "B")], **conversation))

    def agent_run(tracer: Any) -> None:
        root = tracer.start_span("invoke_agent x", attributes={"gen_ai.operation.name": "invoke_agent"})
        _chat(tracer, [_text("user", "c")], [_text("assistant", "C")], parent=root, **conversation)
        root.end()

    rooted = _trace_links(agent_run)
    assert (a.mode, b.mode, rooted.mode) == (MODE_CONVERSATION, MODE_CONVERSATION, MODE_STANDALONE)
    grouping = group_traces([a, b, rooted])
    assert grouping[a.key] == grouping[b.key] != grouping[rooted.key] == rooted.key[1]


def test_a_trace_whose_root_has_not_arrived_stands_alone() -> None:
    def child_only(tracer: Any) -> None:
        root = tracer.start_span("workflow")  # never exported: still running
        _chat(tracer, [_text("user", "a")], [_text("assistant", "A")], parent=root)

    assert _trace_links(child_only).mode == MODE_STANDALONE


def test_one_call_recorded_in_two_traces_is_joined_by_response_id() -> None:
    """Two instrumentations that do not share a context: each span roots its own trace."""
    user, answer = [_text("user", "a")], [_text("assistant", "A")]
    rid = {"gen_ai.response.id": "chatcmpl-9"}
    first = _trace_links(lambda t: _chat(t, user, answer, start=10 * MS, end=40 * MS, **rid))
    second = _trace_links(lambda t: _chat(t, user, answer, start=12 * MS, end=38 * MS, **rid))
    later = _trace_links(lambda t: _chat(t, user, answer, start=50 * MS, end=60 * MS, **rid))
    grouping = group_traces([first, second, later])
    assert grouping[first.key] == grouping[second.key] != grouping[later.key]
