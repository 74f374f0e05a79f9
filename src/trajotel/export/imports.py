"""``trajotel import``: existing logs become trajectories in the store (docs/export.md).

* ``trajotel``: canonical JSONL (``trajotel export --format trajotel``), written back exactly:
  ids, versions, times, rewards, edits and feedback, so export -> import -> export gives the same
  bytes.
* ``openai-chat``: OpenAI chat JSONL (``{"messages": [...], "tools": [...]}`` per line, the SFT
  form): one trajectory per line, one turn per assistant message (its input: every message
  before it), tool results paired by ``tool_call_id``.
* ``trae``: Trae-agent trajectory JSON (one run per file, or a JSON array of runs; a directory
  is read file by file): one turn per ``llm_interactions`` entry, its input rebuilt from the
  earlier calls (Trae records only the messages new to each call).

Imported trajectories from other formats get metadata ``trajotel.import.format`` and
``trajotel.import.source`` (file and line or entry), an id derived from their content (a
re-import finds them already there) and status complete. Every import is also recorded in the
``imports`` view. A trajectory whose id the tenant already has is skipped (``on_conflict="skip"``)
or written as a newer version (``"replace"``).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from trajotel.assemble.model import Message, Outcome, Part, ToolCall, Trajectory, Turn, Usage
from trajotel.errors import InvalidInputError, TrajotelError
from trajotel.instrument import genai
from trajotel.store import Store
from trajotel.store import exports as ledger
from trajotel.store.feedback import write_feedback
from trajotel.store.trajectories import current_versions, message_hash, write_trajectories

FORMATS = ("trajotel", "openai-chat", "trae")
CONFLICTS = ("skip", "replace")
FORMAT_KEY = "trajotel.import.format"
SOURCE_KEY = "trajotel.import.source"


@dataclass
class ImportOptions:
    format: str = "trajotel"
    tenant: str | None = None  # None: the trajectory's own (trajotel) or "default"
    on_conflict: str = "skip"
    service: str | None = None  # service name of trajectories from other formats
    agent: str | None = None  # agent name of trajectories from other formats
    batch_size: int = 500  # trajectories per store write


@dataclass
class ImportReport:
    read: int = 0
    imported: int = 0
    existing: int = 0  # skipped: the tenant has that id already
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"read": self.read, "imported": self.imported, "existing": self.existing, "files": self.files}


def import_files(
    store: Store,
    paths: Sequence[str | Path],
    options: ImportOptions,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Read every file (a directory: its files, sorted) and write what they hold. A malformed
    entry stops the import with its place; what came before it is stored (re-running the
    fixed file skips it: ids are stable)."""
    if options.format not in FORMATS:
        raise InvalidInputError(
            f"unknown import format {options.format!r}", hint=f"formats: {', '.join(FORMATS)}"
        )
    if options.on_conflict not in CONFLICTS:
        raise InvalidInputError(
            f"on_conflict must be one of {', '.join(CONFLICTS)}, not {options.on_conflict!r}"
        )
    files = _expand(paths)
    report = ImportReport(files=[str(f) for f in files])
    batch: list[tuple[Trajectory, str]] = []
    for path in files:
        for trajectory, source in _read(path, options):
            report.read += 1
            batch.append((trajectory, source))
            if len(batch) >= options.batch_size:
                _write(store, batch, options, report)
                batch = []
                if progress is not None:
                    progress(report.read)
    _write(store, batch, options, report)
    return report


def _expand(paths: Sequence[str | Path]) -> list[Path]:
    if not paths:
        raise InvalidInputError("nothing to import", hint="name one or more files or directories")
    files: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")))
        elif path.is_file():
            files.append(path)
        else:
            raise InvalidInputError(f"{path} does not exist", hint="name a file or a directory of files")
    return files


def _read(path: Path, options: ImportOptions) -> Iterator[tuple[Trajectory, str]]:
    try:
        if options.format == "trae":
            yield from _read_trae(path, options)
            return
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                where = f"{path}:{number}"
                try:
                    value = json.loads(line)
                except ValueError as exc:
                    raise InvalidInputError(
                        f"{where}: not JSON: {exc}", hint="each line must be one JSON object"
                    ) from None
                if options.format == "trajotel":
                    yield _canonical(value, where, options), where
                else:
                    yield _openai_chat(value, line, where, options), where
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{path}: not UTF-8 text: {exc}") from None
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror or exc}") from None


def _write(
    store: Store, batch: list[tuple[Trajectory, str]], options: ImportOptions, report: ImportReport
) -> None:
    if not batch:
        return
    existing = current_versions(store, {(t.tenant, t.id) for t, _ in batch})
    fresh: list[tuple[Trajectory, str]] = []
    seen: set[tuple[str, str]] = set()
    for trajectory, source in batch:
        key = (trajectory.tenant, trajectory.id)
        if key in seen:  # the same trajectory twice in one batch: the first counts
            report.existing += 1
            continue
        seen.add(key)
        stored = existing.get(key)
        if stored is not None:
            if options.on_conflict == "skip":
                report.existing += 1
                continue
            trajectory.version = max(trajectory.version, stored.version + 1)
        fresh.append((trajectory, source))
    if not fresh:
        return
    known: set[tuple[str, str]] = set()
    for tenant in {t.tenant for t, _ in fresh}:
        hashes = {
            message_hash(m)[0]
            for t, _ in fresh
            if t.tenant == tenant
            for turn in t.turns
            for m in (*turn.input_messages, *turn.output_messages)
        }
        known.update((tenant, h) for h in ledger.existing_hashes(store, tenant, sorted(hashes)))
    # The fingerprint says where the version came from; re-assembly from spans (if the store
    # has this trajectory's spans) makes a newer version as usual.
    write_trajectories(store, [(t, f"import:{options.format}") for t, _ in fresh], known)
    for tenant in {t.tenant for t, _ in fresh}:
        write_feedback(store, tenant, [f for t, _ in fresh if t.tenant == tenant for f in t.feedback])
    ledger.record_imports(store, ((t.tenant, t.id, t.version, options.format, source) for t, source in fresh))
    report.imported += len(fresh)


# --- trajotel canonical -------------------------------------------------------------------------------
def _canonical(value: Any, where: str, options: ImportOptions) -> Trajectory:
    if not isinstance(value, dict) or not isinstance(value.get("id"), str) or not value["id"]:
        raise InvalidInputError(
            f"{where}: not a trajotel trajectory (no id)",
            hint="this format reads `trajotel export --format trajotel` files; see --format",
        )
    try:
        trajectory = Trajectory.from_dict(value)
    except TrajotelError as exc:
        raise InvalidInputError(f"{where}: {exc}", hint=exc.hint) from None
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise InvalidInputError(f"{where}: not a trajotel trajectory: {type(exc).__name__}: {exc}") from None
    if options.tenant is not None:
        trajectory.tenant = options.tenant
    return trajectory


# --- shared by the other formats -------------------------------------------------------------------------
def _content_id(fmt: str, text: str) -> str:
    return hashlib.blake2b(f"{fmt}\n{text}".encode(), digest_size=16).hexdigest()


def _foreign(
    fmt: str,
    identity: str,
    where: str,
    options: ImportOptions,
    turns: list[Turn],
    *,
    task: str | None,
    tool_definitions: list[dict[str, Any]],
    start_ns: int,
    end_ns: int,
    metadata: dict[str, str],
    outcome: Outcome | None = None,
    reward: float | None = None,
    models: list[str] | None = None,
) -> Trajectory:
    trajectory_id = _content_id(fmt, identity)
    for turn in turns:
        turn.trace_id = trajectory_id
    return Trajectory(
        id=trajectory_id,
        tenant=options.tenant or "default",
        service_name=options.service,
        agent_name=options.agent,
        task=task,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=max(end_ns, start_ns),
        status="complete",
        outcome=outcome or Outcome(label="unknown", source="import"),
        reward=reward,
        metadata={**metadata, FORMAT_KEY: fmt, SOURCE_KEY: where},
        models=models or sorted({m for t in turns for m in (t.response_model or t.request_model,) if m}),
        tools_used=sorted({c.name for t in turns for c in t.tool_calls}),
        usage=sum((t.usage for t in turns), Usage()),
        tool_definitions=tool_definitions,
        turns=turns,
        assembled_at_unix_nano=time.time_ns() // 1000 * 1000,
    )


def _calls(output: Message, later: Sequence[Message]) -> list[ToolCall]:
    """The output's tool calls with the results the later messages gave them."""
    results: dict[str, Any] = {}
    for message in later:
        for part in message.parts:
            if part.type == "tool_call_response" and part.id and part.id not in results:
                results[part.id] = part.response
    return [
        ToolCall(
            id=part.id or "",
            name=part.name or "",
            arguments=part.arguments,
            result=results.get(part.id or ""),
            status="ok" if (part.id or "") in results else "pending",
            result_source="next_input" if (part.id or "") in results else None,
        )
        for part in output.parts
        if part.type == "tool_call"
    ]


def _text(message: Message) -> str:
    return "\n".join(p.content for p in message.parts if p.type == "text" and isinstance(p.content, str))


def _scalar_metadata(value: dict[str, Any], skip: Sequence[str]) -> dict[str, str]:
    return {
        k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, sort_keys=True)
        for k, v in value.items()
        if k not in skip
    }


# --- OpenAI chat JSONL -----------------------------------------------------------------------------------
def _openai_chat(value: Any, line: str, where: str, options: ImportOptions) -> Trajectory:
    messages = value.get("messages") if isinstance(value, dict) else None
    if not isinstance(messages, list) or not all(isinstance(m, dict) and "role" in m for m in messages):
        raise InvalidInputError(
            f'{where}: not an OpenAI chat line (needs "messages": [{{"role": ...}}, ...])',
            hint="this format reads OpenAI fine-tuning chat JSONL; see --format",
        )
    converted = [Message.from_semconv(genai.input_message(m)) for m in messages]
    now = time.time_ns()
    turns: list[Turn] = []
    for index, (raw, message) in enumerate(zip(messages, converted, strict=True)):
        if message.role != "assistant" or raw.get("weight") == 0:  # weight 0: history, not the model's
            continue
        output = Message(
            role="assistant",
            parts=message.parts,
            name=message.name,
            finish_reason="tool_call" if any(p.type == "tool_call" for p in message.parts) else "stop",
        )
        turns.append(
            Turn(
                index=len(turns),
                trace_id="",
                span_id=f"{index:016x}",
                request_model=value.get("model") if isinstance(value.get("model"), str) else None,
                start_time_unix_nano=now,
                end_time_unix_nano=now,
                input_messages=converted[:index],
                output_messages=[output],
                tool_calls=_calls(message, converted[index + 1 :]),
                finish_reasons=[output.finish_reason or "stop"],
            )
        )
    if not turns:
        raise InvalidInputError(f"{where}: no assistant message to make a turn of")
    user = next((m for m in converted if m.role == "user"), None)
    reward = value.get("reward")
    number = isinstance(reward, int | float) and not isinstance(reward, bool) and math.isfinite(reward)
    return _foreign(
        "openai-chat",
        line.strip(),
        where,
        options,
        turns,
        task=_text(user) if user is not None else None,
        tool_definitions=genai.tool_definitions(value.get("tools") or []),
        start_ns=now,
        end_ns=now,
        metadata=_scalar_metadata(value, ("messages", "tools", "parallel_tool_calls", "model", "reward")),
        reward=float(reward) if number else None,
    )


# --- Trae-agent trajectory JSON ---------------------------------------------------------------------------
def _read_trae(path: Path, options: ImportOptions) -> Iterator[tuple[Trajectory, str]]:
    text = path.read_text(encoding="utf-8")
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidInputError(
            f"{path}: not JSON: {exc}", hint="a Trae-agent trajectory file is one JSON object"
        ) from None
    runs = value if isinstance(value, list) else [value]
    for number, run in enumerate(runs):
        where = str(path) if not isinstance(value, list) else f"{path}[{number}]"
        yield _trae(run, json.dumps(run, sort_keys=True), where, options), where


def _trae_time(value: Any) -> int | None:
    """Trae writes local times without a zone (datetime.now().isoformat())."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return int(datetime.fromisoformat(value).timestamp() * 1e9)
    except ValueError:
        return None


def _trae_message(raw: Any, where: str) -> Message:
    if not isinstance(raw, dict) or not isinstance(raw.get("role"), str):
        raise InvalidInputError(f"{where}: a message without a role")
    if isinstance(raw.get("tool_result"), dict):
        result = raw["tool_result"]
        response = result.get("result")
        if result.get("error"):
            response = f"{response or ''}\nError: {result['error']}".strip()
        return Message(
            role="tool", parts=[Part(type="tool_call_response", id=result.get("call_id"), response=response)]
        )
    parts = (
        [Part(type="text", content=raw["content"])]
        if isinstance(raw.get("content"), str) and raw["content"]
        else []
    )
    if isinstance(raw.get("tool_call"), dict):
        call = raw["tool_call"]
        parts.append(
            Part(
                type="tool_call",
                id=call.get("call_id"),
                name=call.get("name"),
                arguments=call.get("arguments"),
            )
        )
    return Message(role=raw["role"], parts=parts)


def _trae_usage(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage()

    def count(key: str) -> int | None:
        value = raw.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    return Usage(
        input_tokens=count("input_tokens"),
        output_tokens=count("output_tokens"),
        cache_read_input_tokens=count("cache_read_input_tokens"),
        cache_write_input_tokens=count("cache_creation_input_tokens"),
        reasoning_output_tokens=count("reasoning_tokens"),
    )


def _trae(run: Any, identity: str, where: str, options: ImportOptions) -> Trajectory:
    interactions = run.get("llm_interactions") if isinstance(run, dict) else None
    if not isinstance(interactions, list):
        raise InvalidInputError(
            f'{where}: not a Trae-agent trajectory (no "llm_interactions" list)',
            hint="this format reads the JSON files trae-cli writes with --trajectory-file; see --format",
        )
    start = _trae_time(run.get("start_time")) or time.time_ns()
    history: list[Message] = []
    turns: list[Turn] = []
    previous_ns = start
    for index, interaction in enumerate(interactions):
        at = f"{where} llm_interactions[{index}]"
        if not isinstance(interaction, dict) or not isinstance(interaction.get("response"), dict):
            raise InvalidInputError(f"{at}: no response")
        new = [_trae_message(m, at) for m in interaction.get("input_messages") or []]
        response = interaction["response"]
        parts = [Part(type="text", content=response["content"])] if response.get("content") else []
        for call in response.get("tool_calls") or []:
            parts.append(
                Part(
                    type="tool_call",
                    id=call.get("call_id"),
                    name=call.get("name"),
                    arguments=call.get("arguments"),
                )
            )
        finish = str(response.get("finish_reason") or ("tool_call" if response.get("tool_calls") else "stop"))
        output = Message(role="assistant", parts=parts, finish_reason=finish)
        inputs = [*history, *new]
        ended = _trae_time(interaction.get("timestamp")) or previous_ns
        model = interaction.get("model") if isinstance(interaction.get("model"), str) else None
        turns.append(
            Turn(
                index=index,
                trace_id="",
                span_id=f"{index:016x}",
                provider=interaction.get("provider")
                if isinstance(interaction.get("provider"), str)
                else None,
                request_model=model,
                response_model=response.get("model") if isinstance(response.get("model"), str) else None,
                start_time_unix_nano=previous_ns,
                end_time_unix_nano=ended,
                input_messages=inputs,
                output_messages=[output],
                finish_reasons=[finish],
                usage=_trae_usage(response.get("usage")),
            )
        )
        history = [*inputs, output]
        previous_ns = ended
    # Tool results arrive as the next calls' input messages.
    for i, turn in enumerate(turns):
        later = [m for t in turns[i + 1 :] for m in t.input_messages[len(turn.input_messages) + 1 :]]
        turn.tool_calls = _calls(turn.output_messages[0], later)
        for call in turn.tool_calls:
            if isinstance(call.result, str) and "\nError: " in f"\n{call.result}":
                call.status = "error"
    success = run.get("success")
    outcome = (
        Outcome(
            label="success" if success else "failure",
            confidence=1.0,
            reasons=["trae success flag"],
            source="import",
        )
        if isinstance(success, bool) and run.get("end_time")
        else None
    )
    tools = sorted(
        {name for i in interactions for name in (i.get("tools_available") or []) if isinstance(name, str)}
    )
    metadata = {
        k: str(run[k]) for k in ("provider", "max_steps", "execution_time") if run.get(k) not in (None, "")
    }
    if isinstance(run.get("final_result"), str):
        metadata["trae.final_result"] = run["final_result"]
    return _foreign(
        "trae",
        identity,
        where,
        options,
        turns,
        task=run.get("task") if isinstance(run.get("task"), str) else None,
        tool_definitions=[{"type": "function", "name": name} for name in tools],
        start_ns=start,
        end_ns=_trae_time(run.get("end_time")) or previous_ns,
        metadata=metadata,
        outcome=outcome,
        models=[run["model"]] if isinstance(run.get("model"), str) and run["model"] else None,
    )
