"""Spans of one or more traces -> one trajectory (which traces belong together: ``linking``).

Pure functions over the canonical span rows read back from the store (column names as in the
``spans`` table, times as unix nanoseconds in ``StartNs``/``EndNs``) and the content bodies they
reference by hash. Deterministic: the same set of spans, in any order and with any number of
duplicates, gives the same trajectory. Several spans recording one model call (stacked
instrumentations) become one turn (``duplicates``).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Mapping
from typing import Any

from trajotel import semconv as sc
from trajotel.assemble.duplicates import merge_duplicate_calls
from trajotel.assemble.model import Message, Part, ToolCall, Trajectory, Turn, Usage
from trajotel.assemble.outcome import outcome
from trajotel.normalize.content import tool_response
from trajotel.normalize.values import json_or_text

SpanRow = Mapping[str, Any]


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


# Part of every input fingerprint: bump it when assembly changes what it builds from the same
# spans, so stored trajectories are rebuilt.
ASSEMBLER_VERSION = 5


def input_fingerprint(spans: Iterable[SpanRow]) -> str:
    """What a trajectory is built from: its distinct spans (immutable once ended) and the
    assembler's version. Assembly is deterministic, so an unchanged fingerprint means an
    unchanged trajectory and nothing needs rebuilding."""
    ids = sorted({f"{s['TraceId']}/{s['SpanId']}" for s in spans})
    return hashlib.blake2b(f"{ASSEMBLER_VERSION}:{','.join(ids)}".encode(), digest_size=16).hexdigest()


def _dedupe(spans: Iterable[SpanRow]) -> list[SpanRow]:
    """An exporter may re-send spans: keep one per span id, in a canonical order."""
    unique: dict[tuple[str, str], SpanRow] = {}
    for span in spans:
        unique.setdefault((span["TraceId"], span["SpanId"]), span)
    # JS SDKs record start times to the millisecond only: on a tie, the span that ended first goes first.
    return sorted(unique.values(), key=lambda s: (s["StartNs"], s["EndNs"], s["TraceId"], s["SpanId"]))


def _root(spans: list[SpanRow]) -> SpanRow | None:
    ids = {(s["TraceId"], s["SpanId"]) for s in spans}
    roots = [s for s in spans if not s["ParentSpanId"] or (s["TraceId"], s["ParentSpanId"]) not in ids]
    agents = [s for s in roots if s["Operation"] == sc.OP_INVOKE_AGENT]
    if agents:
        return agents[0]
    true_roots = [s for s in roots if not s["ParentSpanId"]]
    return (true_roots or roots or [None])[0]


def _usage(span: SpanRow) -> Usage:
    attrs = span["SpanAttributes"]
    return Usage(
        input_tokens=_int(span["InputTokens"]),
        output_tokens=_int(span["OutputTokens"]),
        cache_read_input_tokens=_int(attrs.get(sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS)),
        cache_write_input_tokens=_int(attrs.get(sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS)),
        reasoning_output_tokens=_int(attrs.get(sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS)),
    )


def _messages(
    hashes: Iterable[str], contents: Mapping[str, str], parsed: dict[str, Message]
) -> list[Message]:
    """Messages by hash; ``parsed`` shares one (immutable) Message per hash across turns."""
    out = []
    for h in hashes:
        message = parsed.get(h)
        if message is None:
            text = contents.get(h)
            if text is None:
                # Content is written before the span that references it; a miss means the store
                # was edited by hand. Keep the turn's shape and say what is missing.
                message = Message(role="unknown", parts=[Part(type="missing_content", content=h)])
            else:
                message = Message.from_semconv(json.loads(text))
            parsed[h] = message
        out.append(message)
    return out


def _turn(index: int, span: SpanRow, contents: Mapping[str, str], parsed: dict[str, Message]) -> Turn:
    output = _messages(span["OutputMessageHashes"], contents, parsed)
    calls = [
        ToolCall(id=part.id or "", name=part.name or "", arguments=part.arguments)
        for message in output
        for part in message.parts
        if part.type == sc.PART_TOOL_CALL
    ]
    return Turn(
        index=index,
        trace_id=span["TraceId"],
        span_id=span["SpanId"],
        provider=span["Provider"] or None,
        request_model=span["RequestModel"] or None,
        response_model=span["ResponseModel"] or None,
        response_id=span["ResponseId"] or None,
        start_time_unix_nano=span["StartNs"],
        end_time_unix_nano=span["EndNs"],
        input_messages=_messages(span["InputMessageHashes"], contents, parsed),
        output_messages=output,
        tool_calls=calls,
        finish_reasons=list(span["FinishReasons"]),
        usage=_usage(span),
        error_type=span["ErrorType"] or None,
        status_message=span["StatusMessage"] or None,
        reward=None,
        output_token_ids=[],
        output_logprobs=[],
        prompt_token_ids=[],
    )


def _tool_result(span: SpanRow, contents: Mapping[str, str]) -> Any:
    """What an execute_tool span says its tool returned: the tool message it was stored as (see
    ``normalize.content.tool_response_message``), or its attribute on spans stored before."""
    digest = span["ToolCallResultHash"]
    if digest:
        text = contents.get(digest)
        # A missing body means the store was edited by hand (bodies are written first).
        return tool_response(json.loads(text)) if text is not None else None
    return json_or_text(span["SpanAttributes"].get(sc.GEN_AI_TOOL_CALL_RESULT))


def _attach_tool_spans(turns: list[Turn], tool_spans: list[SpanRow], contents: Mapping[str, str]) -> None:
    """execute_tool spans join the model's tool call they executed, by gen_ai.tool.call.id."""
    by_id = {call.id: call for turn in turns for call in turn.tool_calls if call.id}
    for span in tool_spans:
        call = by_id.get(span["ToolCallId"])
        if call is None:
            continue
        failed = span["StatusCode"] == "Error" or bool(span["ErrorType"])
        call.result = _tool_result(span, contents)
        call.status = "error" if failed else "ok"
        call.error_type = (span["ErrorType"] or span["StatusMessage"] or "error") if failed else None
        call.span_id = span["SpanId"]
        call.start_time_unix_nano = span["StartNs"]
        call.end_time_unix_nano = span["EndNs"]
        call.result_source = "execute_tool_span"


def _infer_results_from_next_input(turns: list[Turn]) -> None:
    """Without a tool span, the next model call's input carries the tool's response."""
    for turn, following in itertools.pairwise(turns):
        pending = {c.id: c for c in turn.tool_calls if c.result_source is None and c.id}
        if not pending:
            continue
        for message in following.input_messages:
            for part in message.parts:
                call = pending.get(part.id or "") if part.type == sc.PART_TOOL_CALL_RESPONSE else None
                if call is not None:
                    call.result = part.response
                    call.status = "ok"
                    call.result_source = "next_input"


def _first_content(spans: list[SpanRow], column: str, contents: Mapping[str, str]) -> Any:
    for span in spans:
        h = span[column]
        if h and h in contents:
            return json.loads(contents[h])
    return None


def assemble_trace(
    spans: Iterable[SpanRow],
    contents: Mapping[str, str],
    *,
    complete: bool,
    version: int = 0,
    assembled_at_ns: int = 0,
) -> Trajectory | None:
    """Build the trajectory of one trace, or None when the trace has no GenAI spans."""
    return assemble_spans(
        spans, contents, complete=complete, version=version, assembled_at_ns=assembled_at_ns
    )


def assemble_spans(
    spans: Iterable[SpanRow],
    contents: Mapping[str, str],
    *,
    complete: bool,
    trajectory_id: str | None = None,
    version: int = 0,
    assembled_at_ns: int = 0,
) -> Trajectory | None:
    """Build one trajectory from the spans of its traces (its id: ``trajectory_id``, else the
    earliest trace's id), or None when there are no GenAI spans."""
    ordered = _dedupe(spans)
    inference = merge_duplicate_calls(ordered)
    genai = [s for s in ordered if s["Operation"]]
    if not genai:
        return None
    root = _root(ordered)
    parsed: dict[str, Message] = {}
    turns = [_turn(i, span, contents, parsed) for i, span in enumerate(inference)]
    _attach_tool_spans(turns, [s for s in ordered if s["Operation"] == sc.OP_EXECUTE_TOOL], contents)
    _infer_results_from_next_input(turns)

    root_attrs = root["SpanAttributes"] if root else {}
    # A root-less thread's "root" is its first model call: no agent-level evidence in it.
    model_call_ids = {span["SpanId"] for span in inference}
    outcome_root = root if root is not None and root["SpanId"] not in model_call_ids else None
    usage = Usage()
    for turn in turns:
        usage = usage + turn.usage
    status = "running"
    if complete:
        status = "error" if root is not None and root["StatusCode"] == "Error" else "complete"
    agent = (root["AgentName"] if root else "") or next((s["AgentName"] for s in genai if s["AgentName"]), "")
    conversation = next((s["ConversationId"] for s in genai if s["ConversationId"]), "")
    system = _first_content(inference, "SystemInstructionsHash", contents)
    tools = _first_content(inference, "ToolDefinitionsHash", contents)
    models = sorted(
        {t.response_model or t.request_model for t in turns if t.response_model or t.request_model}
    )
    tenant = ordered[0]["Tenant"]
    trace_ids = list(dict.fromkeys(s["TraceId"] for s in ordered))  # by first span start
    return Trajectory(
        id=trajectory_id or trace_ids[0],
        version=version,
        tenant=tenant,
        service_name=(root or ordered[0])["ServiceName"] or None,
        agent_name=agent or None,
        agent_id=root_attrs.get(sc.GEN_AI_AGENT_ID),
        task=root_attrs.get(sc.TRAJOTEL_TASK),
        framework=None,
        trace_ids=trace_ids,
        root_span_id=root["SpanId"] if root else None,
        parent_trajectory_id=None,
        conversation_id=conversation or None,
        start_time_unix_nano=min(s["StartNs"] for s in ordered),
        end_time_unix_nano=max(s["EndNs"] for s in ordered),
        status=status,
        outcome=outcome(outcome_root, turns, complete=complete),
        reward=_float(root_attrs.get(sc.TRAJOTEL_REWARD)),
        feedback=[],
        tags=[],
        metadata={},
        models=models,
        tools_used=sorted({c.name for t in turns for c in t.tool_calls if c.name}),
        usage=usage,
        system_instructions=[Part.from_semconv(p) for p in system] if isinstance(system, list) else [],
        tool_definitions=[d for d in tools if isinstance(d, dict)] if isinstance(tools, list) else [],
        turns=turns,
        span_count=len(ordered),
        assembled_at_unix_nano=assembled_at_ns,
    )
