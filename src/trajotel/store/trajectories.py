"""Reading and writing trajectories: the model of ``trajotel.assemble.model`` <-> the derived tables.

Turn messages are stored as hashes into ``message_contents`` (content-addressed, written at
ingest); a trajectory row is written after its turns so readers never see a version whose
turns are missing.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from copy import copy
from typing import Any, NamedTuple

from trajotel import semconv as sc
from trajotel.assemble.model import Feedback, Message, Outcome, Part, ToolCall, Trajectory, Turn, Usage
from trajotel.errors import StoreError
from trajotel.normalize.records import KIND_MESSAGE, content_hash
from trajotel.normalize.values import dumps, ns_to_text
from trajotel.store.connection import Store
from trajotel.store.feedback import read_feedback

TraceKey = tuple[str, str]  # (tenant, trace id)

_SPAN_COLUMNS = """
    Tenant, TraceId, SpanId, ParentSpanId, SpanName, SpanKind,
    toUnixTimestamp64Nano(Timestamp) AS StartNs, toUnixTimestamp64Nano(EndTimestamp) AS EndNs,
    StatusCode, StatusMessage, ServiceName, ScopeName, SpanAttributes, Dialect, Operation, Provider,
    RequestModel, ResponseModel, ResponseId, ConversationId, AgentName, ToolName, ToolCallId,
    InputTokens, OutputTokens, FinishReasons, ErrorType, InputMessageHashes, OutputMessageHashes,
    SystemInstructionsHash, ToolDefinitionsHash, ToolCallResultHash
"""


def _null(value: Any) -> Any:
    return None if value == "" else value


def by_tenant(keys: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """(tenant, value) pairs -> sorted distinct values per tenant (one query per tenant)."""
    grouped: dict[str, set[str]] = defaultdict(set)
    for tenant, value in keys:
        if value:
            grouped[tenant].add(value)
    return {tenant: sorted(values) for tenant, values in grouped.items()}


# --- spans -> assembler ------------------------------------------------------------
_CONTENT_COLUMNS = (
    "InputMessageHashes",
    "OutputMessageHashes",
    "SystemInstructionsHash",
    "ToolDefinitionsHash",
)


def _event_content(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One span's content from its events, in event order. The operation-details event holds
    the whole call; per-message events (<= 1.36) hold a message each."""
    details = [r for r in rows if r["EventName"] == sc.EVENT_GEN_AI_OPERATION_DETAILS]
    chosen = details[-1:] or rows
    merged: dict[str, Any] = {"InputMessageHashes": [], "OutputMessageHashes": []}
    for row in chosen:
        merged["InputMessageHashes"].extend(row["InputMessageHashes"])
        merged["OutputMessageHashes"].extend(row["OutputMessageHashes"])
        for column in ("SystemInstructionsHash", "ToolDefinitionsHash"):
            merged[column] = row[column] or merged.get(column, "")
    return merged


# A `logs` row that carries GenAI content of a span (``trajotel.normalize.events``).
_SPAN_EVENT_CONTENT = (
    "SpanId != '' AND (notEmpty(InputMessageHashes) OR notEmpty(OutputMessageHashes) "
    "OR SystemInstructionsHash != '' OR ToolDefinitionsHash != '')"
)


def load_event_content(store: Store, keys: Iterable[TraceKey]) -> dict[TraceKey, dict[str, dict[str, Any]]]:
    """GenAI content that arrived as log events, per trace and span id (see
    ``trajotel.normalize.events``). Re-sent events are counted once."""
    per_span: dict[tuple[TraceKey, str], list[dict[str, Any]]] = defaultdict(list)
    for tenant, traces in by_tenant(keys).items():
        result = store.query(
            "SELECT TraceId, SpanId, EventName, InputMessageHashes, OutputMessageHashes, "
            "SystemInstructionsHash, ToolDefinitionsHash FROM logs "
            "WHERE Tenant = {tenant:String} AND TraceId IN {traces:Array(String)} "
            f"AND {_SPAN_EVENT_CONTENT} ORDER BY TraceId, SpanId, Timestamp "
            f"LIMIT 1 BY TraceId, SpanId, Timestamp, EventName, {', '.join(_CONTENT_COLUMNS)}",
            {"tenant": tenant, "traces": traces},
        )
        for row in result.dicts():
            per_span[(tenant, row["TraceId"]), row["SpanId"]].append(row)
    out: dict[TraceKey, dict[str, dict[str, Any]]] = defaultdict(dict)
    for (trace, span_id), rows in per_span.items():
        out[trace][span_id] = _event_content(rows)
    return out


def load_trace_spans(store: Store, keys: Iterable[TraceKey]) -> dict[TraceKey, list[dict[str, Any]]]:
    """All spans of the given traces, one row per span id (re-sent duplicates collapsed). A span
    without content of its own gets the content its GenAI events carried."""
    keys = list(keys)
    out: dict[TraceKey, list[dict[str, Any]]] = defaultdict(list)
    for tenant, traces in by_tenant(keys).items():
        result = store.query(
            f"SELECT {_SPAN_COLUMNS} FROM spans WHERE Tenant = {{tenant:String}} "
            "AND TraceId IN {traces:Array(String)} LIMIT 1 BY TraceId, SpanId",
            {"tenant": tenant, "traces": traces},
        )
        for row in result.dicts():
            out[tenant, row["TraceId"]].append(row)
    for trace, by_span in load_event_content(store, out.keys()).items():
        for span in out[trace]:
            found = by_span.get(span["SpanId"])
            if found is not None:
                for column in _CONTENT_COLUMNS:
                    if not span[column]:
                        span[column] = found.get(column, "")
    return out


def load_contents(store: Store, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Bodies of the given (tenant, hash) keys, one query per tenant."""
    out: dict[tuple[str, str], str] = {}
    for tenant, hashes in by_tenant(keys).items():
        result = store.query(
            "SELECT Hash, any(Content) FROM message_contents WHERE Tenant = {tenant:String} "
            "AND Hash IN {hashes:Array(String)} GROUP BY Hash",
            {"tenant": tenant, "hashes": hashes},
        )
        out.update(((tenant, str(h)), str(c)) for h, c in result.rows)
    return out


# --- the assembler's span cache (trajotel.assemble.cache) -------------------------------
# The columns of _SPAN_COLUMNS as an inserted JSONEachRow record holds them, with the value the
# store gives a column the record leaves out (encode_json_rows drops empty values).
_SPAN_ROW_DEFAULTS: dict[str, Any] = {
    **dict.fromkeys(("Tenant", "TraceId", "SpanId", "ParentSpanId", "SpanName", "SpanKind"), ""),
    "StartNs": 0,
    "EndNs": 0,
    **dict.fromkeys(("StatusCode", "StatusMessage", "ServiceName", "ScopeName"), ""),
    "SpanAttributes": {},
    **dict.fromkeys(("Dialect", "Operation", "Provider", "RequestModel", "ResponseModel"), ""),
    **dict.fromkeys(("ResponseId", "ConversationId", "AgentName", "ToolName", "ToolCallId"), ""),
    "InputTokens": None,
    "OutputTokens": None,
    "FinishReasons": [],
    "ErrorType": "",
    "InputMessageHashes": [],
    "OutputMessageHashes": [],
    "SystemInstructionsHash": "",
    "ToolDefinitionsHash": "",
    "ToolCallResultHash": "",
}
_MAX_DATETIME64_9_S = 9_223_372_035  # DateTime64(9) ends in 2262: later times would not come back as sent
_INT64 = range(-(2**63), 2**63)


def _ns_of(text: Any) -> int | None:
    """Unix nanoseconds of a ``ns_to_text`` time, None when the store would not keep it exactly."""
    if not isinstance(text, str):
        return None
    seconds, _, fraction = text.partition(".")
    if not (seconds.isdigit() and fraction.isdigit() and len(fraction) == 9):
        return None
    whole = int(seconds)
    return whole * 1_000_000_000 + int(fraction) if whole <= _MAX_DATETIME64_9_S else None


def span_row_from_insert(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The row ``load_trace_spans`` gives for a span (before any log-event content is merged in),
    from the JSONEachRow record inserted for it; None when the store would not give the record
    back as sent (a time past DateTime64's range, a count past Int64), so the caller reads it."""
    row = {
        column: record[column] if column in record else copy(default)
        for column, default in _SPAN_ROW_DEFAULTS.items()
    }
    start, end = _ns_of(record.get("Timestamp")), _ns_of(record.get("EndTimestamp"))
    if start is None or end is None:
        return None
    row["StartNs"], row["EndNs"] = start, end
    for column in ("InputTokens", "OutputTokens"):
        if row[column] is not None and (not isinstance(row[column], int) or row[column] not in _INT64):
            return None
    return row


def stored_span_ids(store: Store, keys: Iterable[TraceKey]) -> dict[TraceKey, frozenset[str] | None]:
    """The distinct span ids stored for each trace (traces with none are left out), in one query
    per tenant that reads two narrow columns; None for a trace whose GenAI content also arrived
    as log events (``load_trace_spans`` merges those in)."""
    out: dict[TraceKey, frozenset[str] | None] = {}
    for tenant, traces in by_tenant(keys).items():
        result = store.query(
            "SELECT TraceId, groupUniqArray(SpanId), 0 FROM spans WHERE Tenant = {tenant:String} "
            "AND TraceId IN {traces:Array(String)} GROUP BY TraceId "
            "UNION ALL "
            "SELECT DISTINCT TraceId, CAST([] AS Array(String)), 1 FROM logs WHERE Tenant = {tenant:String} "
            f"AND TraceId IN {{traces:Array(String)}} AND {_SPAN_EVENT_CONTENT}",
            {"tenant": tenant, "traces": traces},
        )
        events = set()
        for trace, ids, from_logs in result.rows:
            if from_logs:
                events.add((tenant, str(trace)))
            else:
                out[tenant, str(trace)] = frozenset(map(str, ids))
        for key in events:
            out[key] = None
    return out


class StoredVersion(NamedTuple):
    version: int
    fingerprint: str  # of what the version was built from (empty for a tombstone)
    status: str
    deleted: bool


def current_versions(store: Store, keys: Iterable[TraceKey]) -> dict[TraceKey, StoredVersion]:
    """Newest version of each trajectory that was ever written (tombstones included)."""
    out: dict[TraceKey, StoredVersion] = {}
    for tenant, ids in by_tenant(keys).items():
        result = store.query(
            "SELECT TrajectoryId, Version, ContentHash, Status, IsDeleted FROM trajectories_data FINAL "
            "WHERE Tenant = {tenant:String} AND TrajectoryId IN {ids:Array(String)}",
            {"tenant": tenant, "ids": ids},
        )
        for trajectory_id, version, digest, status, deleted in result.rows:
            out[tenant, trajectory_id] = StoredVersion(int(version), str(digest), str(status), bool(deleted))
    return out


# --- which traces make one trajectory (see trajotel.assemble.linking) ------------------
def write_links(store: Store, rows: Iterable[tuple[str, str, str, str]]) -> None:
    """(tenant, kind, key, trace id) rows of the links index."""
    store.insert_json_rows(
        "trajectory_links",
        ({"Tenant": t, "Kind": kind, "Key": key, "TraceId": trace} for t, kind, key, trace in rows),
    )


def find_linked_traces(store: Store, probes: Iterable[tuple[str, str, str]]) -> set[TraceKey]:
    """Traces holding any of the (tenant, kind, key) rows: one index lookup per tenant."""
    wanted: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for tenant, kind, key in probes:
        wanted[tenant][kind].add(key)
    out: set[TraceKey] = set()
    for tenant, by_kind in wanted.items():
        kinds = sorted(by_kind)
        condition = " OR ".join(
            f"(Kind = {{k{i}:String}} AND Key IN {{v{i}:Array(String)}})" for i in range(len(kinds))
        )
        params: dict[str, Any] = {"tenant": tenant}
        for i, kind in enumerate(kinds):
            params[f"k{i}"], params[f"v{i}"] = kind, sorted(by_kind[kind])
        result = store.query(
            "SELECT DISTINCT TraceId FROM trajectory_links "
            f"WHERE Tenant = {{tenant:String}} AND ({condition})",
            params,
        )
        out.update((tenant, str(row[0])) for row in result.rows)
    return out


def trajectory_memberships(store: Store, keys: Iterable[TraceKey]) -> dict[TraceKey, str]:
    """The trajectory each of the given traces currently belongs to (when recorded)."""
    out: dict[TraceKey, str] = {}
    for tenant, traces in by_tenant(keys).items():
        result = store.query(
            "SELECT TraceId, TrajectoryId FROM trace_trajectories FINAL "
            "WHERE Tenant = {tenant:String} AND TraceId IN {traces:Array(String)}",
            {"tenant": tenant, "traces": traces},
        )
        out.update(((tenant, str(trace)), str(trajectory)) for trace, trajectory in result.rows)
    return out


def write_memberships(store: Store, items: Mapping[TraceKey, str], at_ns: int) -> None:
    store.insert_json_rows(
        "trace_trajectories",
        (
            {"Tenant": tenant, "TraceId": trace, "TrajectoryId": trajectory, "UpdatedNs": at_ns}
            for (tenant, trace), trajectory in items.items()
        ),
    )


def trajectory_trace_ids(store: Store, keys: Iterable[TraceKey]) -> dict[TraceKey, list[str]]:
    """The trace ids of the given live trajectories."""
    out: dict[TraceKey, list[str]] = {}
    for tenant, ids in by_tenant(keys).items():
        result = store.query(
            "SELECT TrajectoryId, TraceIds FROM trajectories_data FINAL "
            "WHERE Tenant = {tenant:String} AND TrajectoryId IN {ids:Array(String)} AND IsDeleted = 0",
            {"tenant": tenant, "ids": ids},
        )
        out.update(((tenant, str(tid)), list(traces)) for tid, traces in result.rows)
    return out


def write_tombstones(store: Store, keys: Iterable[TraceKey], at_ns: int) -> None:
    """Retire trajectories absorbed into another one: a newer version marked deleted, copied
    from the current one (same partition, so FINAL replaces it)."""
    for tenant, ids in by_tenant(keys).items():
        # The subquery matters: ClickHouse lets SELECT aliases shadow columns in WHERE.
        store.command(
            "INSERT INTO trajectories_data SELECT * REPLACE (Version + 1 AS Version, 1 AS IsDeleted, "
            "'' AS ContentHash, fromUnixTimestamp64Nano({at:Int64}) AS AssembledAt) "
            "FROM (SELECT * FROM trajectories_data FINAL WHERE Tenant = {tenant:String} "
            "AND TrajectoryId IN {ids:Array(String)} AND IsDeleted = 0)",
            {"tenant": tenant, "ids": ids, "at": at_ns},
        )


def traces_needing_assembly(store: Store) -> list[TraceKey]:
    """GenAI traces with spans stored after their trajectory was last assembled, or whose
    trajectory is not complete (or missing, or retired while the trace still points at it).
    Used at start-up: the in-memory work list of a killed collector is rebuilt."""
    result = store.query(
        """
        SELECT s.Tenant, s.TraceId
        FROM (
            SELECT s.Tenant AS Tenant, s.TraceId AS TraceId, s.last AS last,
                if(m.TrajectoryId = '', s.TraceId, m.TrajectoryId) AS TrajectoryId
            FROM (
                SELECT Tenant, TraceId, max(IngestedAt) AS last
                FROM spans WHERE Operation != '' GROUP BY Tenant, TraceId
            ) AS s
            LEFT JOIN (
                SELECT Tenant, TraceId, TrajectoryId FROM trace_trajectories FINAL
            ) AS m ON s.Tenant = m.Tenant AND s.TraceId = m.TraceId
        ) AS s
        LEFT JOIN (
            SELECT Tenant, TrajectoryId, AssembledAt, Status, IsDeleted FROM trajectories_data FINAL
        ) AS t ON s.Tenant = t.Tenant AND s.TrajectoryId = t.TrajectoryId
        WHERE t.TrajectoryId = '' OR t.AssembledAt < s.last OR t.Status = 'running' OR t.IsDeleted = 1
        """
    )
    return [(str(a), str(b)) for a, b in result.rows]


# --- model -> rows ---------------------------------------------------------------------
def message_hash(message: Message) -> tuple[str, str]:
    text = dumps(message.to_semconv())
    return content_hash(text), text


def _turn_rows(trajectory: Trajectory, hashes: dict[int, tuple[str, str]]) -> list[dict[str, Any]]:
    """The turns_data rows of a trajectory: each turn's input by reference to the turn before it
    (``InheritedInputCount`` leading messages of its input + output, then the new hashes)."""

    def refs(messages: list[Message]) -> list[str]:
        # Turns share their history's Message objects: hash each object once, not once per turn.
        out = []
        for m in messages:
            found = hashes.get(id(m))
            if found is None:
                found = hashes[id(m)] = message_hash(m)
            out.append(found[0])
        return out

    rows = []
    context: list[str] = []
    for turn in trajectory.turns:
        input_hashes, output_hashes = refs(turn.input_messages), refs(turn.output_messages)
        inherited = _common_prefix(input_hashes, context)
        rows.append(_turn_row(trajectory, turn, inherited, input_hashes[inherited:], output_hashes))
        context = input_hashes + output_hashes
    return rows


def _common_prefix(a: list[str], b: list[str]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def whole_inputs(turn_rows: Sequence[dict[str, Any]]) -> None:
    """Rebuild, in place, the whole ``InputMessageHashes`` of one trajectory version's turn rows
    (in turn order) from their ``InheritedInputCount`` and new hashes."""
    context: list[str] = []
    for row in turn_rows:
        inherited = row.get("InheritedInputCount", 0)
        if inherited > len(context):
            raise StoreError(
                f"trajectory {row['TrajectoryId']} turn {row['TurnIndex']}: inherits {inherited} "
                f"messages but the turn before it has {len(context)}"
            )
        row["InputMessageHashes"] = context[:inherited] + list(row["InputMessageHashes"])
        row["InheritedInputCount"] = 0
        context = row["InputMessageHashes"] + list(row["OutputMessageHashes"])


def _turn_row(
    trajectory: Trajectory, turn: Turn, inherited: int, new_input: list[str], output: list[str]
) -> dict[str, Any]:
    calls = turn.tool_calls
    return {
        "Tenant": trajectory.tenant,
        "TrajectoryId": trajectory.id,
        "Version": trajectory.version,
        "TurnIndex": turn.index,
        "TraceId": turn.trace_id,
        "SpanId": turn.span_id,
        "Provider": turn.provider or "",
        "RequestModel": turn.request_model or "",
        "ResponseModel": turn.response_model or "",
        "ResponseId": turn.response_id or "",
        "StartTime": ns_to_text(turn.start_time_unix_nano),
        "EndTime": ns_to_text(turn.end_time_unix_nano),
        "FinishReasons": turn.finish_reasons,
        **_usage_columns(turn.usage),
        "ErrorType": turn.error_type or "",
        "StatusMessage": turn.status_message or "",
        "Reward": turn.reward,
        "InheritedInputCount": inherited,
        "InputMessageHashes": new_input,
        "OutputMessageHashes": output,
        "ToolCalls.Id": [c.id for c in calls],
        "ToolCalls.Name": [c.name for c in calls],
        "ToolCalls.Arguments": [dumps(c.arguments) for c in calls],
        "ToolCalls.Result": [dumps(c.result) for c in calls],
        "ToolCalls.Status": [c.status for c in calls],
        "ToolCalls.ErrorType": [c.error_type or "" for c in calls],
        "ToolCalls.SpanId": [c.span_id or "" for c in calls],
        "ToolCalls.StartTime": [c.start_time_unix_nano or 0 for c in calls],
        "ToolCalls.EndTime": [c.end_time_unix_nano or 0 for c in calls],
        "ToolCalls.ResultSource": [c.result_source or "" for c in calls],
        "PromptTokenIds": turn.prompt_token_ids,
        "OutputTokenIds": turn.output_token_ids,
        "OutputLogprobs": turn.output_logprobs,
    }


def write_trajectories(
    store: Store, items: Sequence[tuple[Trajectory, str]], known_hashes: set[tuple[str, str]]
) -> None:
    """Write trajectory versions (trajectory, fingerprint), one insert per table for all of them.

    ``known_hashes`` are the (tenant, hash) bodies already in message_contents. Turns are written
    before trajectory rows, so a reader never sees a version whose turns are missing."""
    if not items:
        return
    contents: dict[tuple[str, str], str] = {}
    turn_rows = []
    for trajectory, _ in items:
        hashes: dict[int, tuple[str, str]] = {}
        turn_rows.extend(_turn_rows(trajectory, hashes))
        for digest, text in hashes.values():
            if (trajectory.tenant, digest) not in known_hashes:
                contents[trajectory.tenant, digest] = text
    if contents:
        store.insert_json_rows(
            "message_contents",
            [
                {"Tenant": t, "Hash": h, "Kind": KIND_MESSAGE, "Content": text}
                for (t, h), text in contents.items()
            ],
        )
    if turn_rows:
        store.insert_json_rows("turns_data", turn_rows)
    store.insert_json_rows("trajectories_data", [_trajectory_row(t, fingerprint) for t, fingerprint in items])


def _trajectory_row(t: Trajectory, fingerprint: str) -> dict[str, Any]:
    return {
        "Tenant": t.tenant,
        "TrajectoryId": t.id,
        "Version": t.version,
        "ServiceName": t.service_name or "",
        "AgentName": t.agent_name or "",
        "AgentId": t.agent_id or "",
        "Task": t.task or "",
        "Framework": t.framework or "",
        "TraceIds": t.trace_ids,
        "RootSpanId": t.root_span_id or "",
        "ParentTrajectoryId": t.parent_trajectory_id or "",
        "ConversationId": t.conversation_id or "",
        "StartTime": ns_to_text(t.start_time_unix_nano),
        "EndTime": ns_to_text(t.end_time_unix_nano),
        "Status": t.status,
        "OutcomeLabel": t.outcome.label,
        "OutcomeConfidence": t.outcome.confidence,
        "OutcomeReasons": t.outcome.reasons,
        "OutcomeSource": t.outcome.source,
        "Reward": t.reward,
        "Tags": t.tags,
        "Metadata": t.metadata,
        "Models": t.models,
        "ToolsUsed": t.tools_used,
        "TurnCount": len(t.turns),
        "SpanCount": t.span_count,
        **_usage_columns(t.usage),
        "SystemInstructions": dumps([p.to_semconv() for p in t.system_instructions]),
        "ToolDefinitions": dumps(t.tool_definitions),
        "ContentHash": fingerprint,
        "AssembledAt": ns_to_text(t.assembled_at_unix_nano)[:-3],
    }


# --- rows -> model ---------------------------------------------------------------------
_TRAJECTORY_COLUMNS = """
    Tenant, TrajectoryId, Version, ServiceName, AgentName, AgentId, Task, Framework, TraceIds,
    RootSpanId, ParentTrajectoryId, ConversationId,
    toUnixTimestamp64Nano(StartTime) AS StartNs, toUnixTimestamp64Nano(EndTime) AS EndNs,
    Status, OutcomeLabel, OutcomeConfidence, OutcomeReasons, OutcomeSource, Reward, Tags, Metadata,
    Models, ToolsUsed, TurnCount, SpanCount, InputTokens, OutputTokens, CacheReadInputTokens,
    CacheWriteInputTokens, ReasoningOutputTokens, SystemInstructions, ToolDefinitions,
    toUnixTimestamp64Nano(toDateTime64(AssembledAt, 9)) AS AssembledNs
"""


_USAGE_COLUMNS = {
    "InputTokens": "input_tokens",
    "OutputTokens": "output_tokens",
    "CacheReadInputTokens": "cache_read_input_tokens",
    "CacheWriteInputTokens": "cache_write_input_tokens",
    "ReasoningOutputTokens": "reasoning_output_tokens",
}


def _usage_columns(usage: Usage) -> dict[str, int | None]:
    return {column: getattr(usage, name) for column, name in _USAGE_COLUMNS.items()}


def _usage_from(row: Mapping[str, Any]) -> Usage:
    return Usage(**{name: row[column] for column, name in _USAGE_COLUMNS.items()})


def _turn_from(
    row: Mapping[str, Any], contents: Mapping[str, str], parsed: dict[str, Message] | None = None
) -> Turn:
    """``parsed``: a cache of messages by hash (batch readers), so a message the turns of a
    trajectory share is parsed once and is one object, as ``Trajectory.from_dict`` builds them."""

    def message(h: str) -> Message:
        if parsed is None:
            return Message.from_semconv(json.loads(contents[h]))
        found = parsed.get(h)
        if found is None:
            found = parsed[h] = Message.from_semconv(json.loads(contents[h]))
        return found

    def messages(hashes: list[str]) -> list[Message]:
        return [message(h) for h in hashes]

    calls = [
        ToolCall(
            id=cid,
            name=name,
            arguments=json.loads(args),
            result=json.loads(result),
            status=status,
            error_type=_null(err),
            span_id=_null(span),
            start_time_unix_nano=start or None,
            end_time_unix_nano=end or None,
            result_source=_null(source),
        )
        for cid, name, args, result, status, err, span, start, end, source in zip(
            row["ToolCalls.Id"],
            row["ToolCalls.Name"],
            row["ToolCalls.Arguments"],
            row["ToolCalls.Result"],
            row["ToolCalls.Status"],
            row["ToolCalls.ErrorType"],
            row["ToolCalls.SpanId"],
            row["ToolCalls.StartTime"],
            row["ToolCalls.EndTime"],
            row["ToolCalls.ResultSource"],
            strict=True,
        )
    ]
    return Turn(
        index=row["TurnIndex"],
        trace_id=row["TraceId"],
        span_id=row["SpanId"],
        provider=_null(row["Provider"]),
        request_model=_null(row["RequestModel"]),
        response_model=_null(row["ResponseModel"]),
        response_id=_null(row["ResponseId"]),
        start_time_unix_nano=row["StartNs"],
        end_time_unix_nano=row["EndNs"],
        input_messages=messages(row["InputMessageHashes"]),
        output_messages=messages(row["OutputMessageHashes"]),
        tool_calls=calls,
        finish_reasons=list(row["FinishReasons"]),
        usage=_usage_from(row),
        error_type=_null(row["ErrorType"]),
        status_message=_null(row["StatusMessage"]),
        reward=row["Reward"],
        output_token_ids=list(row["OutputTokenIds"]),
        output_logprobs=list(row["OutputLogprobs"]),
        prompt_token_ids=list(row["PromptTokenIds"]),
    )


def read_trajectory(store: Store, trajectory_id: str, tenant: str | None = None) -> Trajectory | None:
    """The newest version as people see it (migration 0006): edits applied, the reward and turn
    rewards by the reward rule, its feedback; None when missing or deleted."""
    where = "TrajectoryId = {id:String}"
    params: dict[str, Any] = {"id": trajectory_id}
    if tenant is not None:
        where += " AND Tenant = {tenant:String}"
        params["tenant"] = tenant
    rows = store.query(
        f"SELECT {_TRAJECTORY_COLUMNS} FROM trajectories_current WHERE {where} LIMIT 1", params
    )
    if not rows.rows:
        return None
    t = rows.dicts()[0]
    turn_rows = store.query(
        "SELECT *, toUnixTimestamp64Nano(StartTime) AS StartNs, toUnixTimestamp64Nano(EndTime) AS EndNs "
        "FROM turns_current WHERE Tenant = {tenant:String} AND TrajectoryId = {id:String} "
        "AND Version = {version:UInt64} ORDER BY TurnIndex",
        {"tenant": t["Tenant"], "id": trajectory_id, "version": t["Version"]},
    ).dicts()
    whole_inputs(turn_rows)
    tenant_of = t["Tenant"]
    loaded = load_contents(
        store,
        ((tenant_of, h) for r in turn_rows for h in (*r["InputMessageHashes"], *r["OutputMessageHashes"])),
    )
    contents = {h: text for (_, h), text in loaded.items()}
    feedback = read_feedback(store, t["Tenant"], [trajectory_id])[trajectory_id]
    return trajectory_from_rows(t, [_turn_from(r, contents) for r in turn_rows], feedback)


def trajectory_from_rows(t: Mapping[str, Any], turns: list[Turn], feedback: list[Feedback]) -> Trajectory:
    """The model from a row of ``_TRAJECTORY_COLUMNS`` (names as there), its turns and feedback."""
    return Trajectory(
        id=t["TrajectoryId"],
        version=int(t["Version"]),
        tenant=t["Tenant"],
        service_name=_null(t["ServiceName"]),
        agent_name=_null(t["AgentName"]),
        agent_id=_null(t["AgentId"]),
        task=_null(t["Task"]),
        framework=_null(t["Framework"]),
        trace_ids=list(t["TraceIds"]),
        root_span_id=_null(t["RootSpanId"]),
        parent_trajectory_id=_null(t["ParentTrajectoryId"]),
        conversation_id=_null(t["ConversationId"]),
        start_time_unix_nano=t["StartNs"],
        end_time_unix_nano=t["EndNs"],
        status=t["Status"],
        outcome=Outcome(
            label=t["OutcomeLabel"],
            confidence=t["OutcomeConfidence"],
            reasons=list(t["OutcomeReasons"]),
            source=t["OutcomeSource"],
        ),
        reward=t["Reward"],
        feedback=feedback,
        tags=list(t["Tags"]),
        metadata=dict(t["Metadata"]),
        models=list(t["Models"]),
        tools_used=list(t["ToolsUsed"]),
        usage=_usage_from(t),
        system_instructions=[Part.from_semconv(p) for p in json.loads(t["SystemInstructions"] or "[]")],
        tool_definitions=json.loads(t["ToolDefinitions"] or "[]"),
        turns=turns,
        span_count=t["SpanCount"],
        assembled_at_unix_nano=t["AssembledNs"],
    )


def list_trajectories(store: Store, limit: int = 50, tenant: str | None = None) -> list[dict[str, Any]]:
    where = "WHERE tenant = {tenant:String}" if tenant is not None else ""
    return store.query(
        "SELECT trajectory_id, version, status, outcome, agent_name, service_name, turn_count, "
        "tools_used, models, input_tokens, output_tokens, start_time, duration_ms, task "
        f"FROM trajectories {where} ORDER BY start_time DESC LIMIT {{limit:UInt32}}",
        {"tenant": tenant, "limit": limit},
    ).dicts()
