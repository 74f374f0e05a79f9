"""Learning from past runs, for agents (docs/learning.md): ``search_trajectories``,
``get_successful_examples`` and ``analyze_failure_patterns``. The tool schemas and a dispatcher
are in ``tool_schemas``, the MCP server in ``mcp_server``, few-shot prompts in ``fewshot``.

These run inside the user's agent process, so they talk to the collector over REST only
(``trajotel.Client``: standard library) and never open the store. Every function takes
``client`` (default: ``Client()``, i.e. ``$TRAJOTEL_ENDPOINT``) and ``limits`` (how much text
comes back); an unreachable collector or a refused request raises a ``TrajotelError``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from trajotel.assemble.outcome import TRUNCATED_FINISH_REASONS
from trajotel.client import Client
from trajotel.enrich.excerpts import (
    Limits,
    as_text,
    built_summary,
    cut,
    final_answer,
    steps,
    task_of,
    text_of,
)
from trajotel.errors import InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from trajotel.assemble.model import Trajectory

__all__ = ["Limits", "analyze_failure_patterns", "get_successful_examples", "search_trajectories"]

OUTCOMES = ("success", "partial", "failure", "unknown")


def search_trajectories(
    query: str,
    k: int = 5,
    min_score: float | None = None,
    max_score: float | None = None,
    outcome: str | None = None,
    agent: str | None = None,
    *,
    client: Client | None = None,
    limits: Limits | None = None,
) -> list[dict[str, Any]]:
    """The ``k`` runs most relevant to ``query``, best first: ``{"id", "task", "outcome",
    "score", "summary"}``. The summary is the judge's when the run was judged, else one built
    from the run (outcome reasons, tools used, final answer)."""
    client, limits = client or Client(), limits or Limits()
    _check_count("k", k)
    hits = client.search(
        query, k=k, min_score=min_score, max_score=max_score, **_filters(agent=agent, outcome=outcome)
    )
    found = []
    for hit in hits:
        try:
            summary = _summary(client, hit["trajectory_id"], limits)
        except NotFoundError:  # deleted since the search
            continue
        found.append({**_brief(hit, limits), "summary": summary})
    return found


def get_successful_examples(
    task: str,
    k: int = 3,
    agent: str | None = None,
    min_score: float = 0.7,
    *,
    client: Client | None = None,
    limits: Limits | None = None,
) -> list[dict[str, Any]]:
    """The ``k`` successful runs most similar to ``task``: outcome ``success`` or a score of at
    least ``min_score`` (a run the judge scored below ``min_score`` is left out whatever its
    outcome). Each: ``{"id", "task", "outcome", "score", "steps": [{"tool", "arguments",
    "result", "status"}], "final_answer"}``, steps in the order the run made them."""
    client, limits = client or Client(), limits or Limits()
    _check_count("k", k)
    if not 0.0 <= min_score <= 1.0:
        raise InvalidInputError(f"min_score must be in [0, 1], got {min_score}")
    # Success is "outcome success OR score >= min_score": two searches, merged by relevance.
    fetch = min(limits.fetch, 3 * k)
    hits: dict[str, dict[str, Any]] = {}
    for floor, outcome in ((min_score, None), (None, "success")):
        for hit in client.search(task, k=fetch, min_score=floor, **_filters(agent=agent, outcome=outcome)):
            known = hits.get(hit["trajectory_id"])
            if known is None or hit["relevance"] > known["relevance"]:
                hits[hit["trajectory_id"]] = hit
    ranked = sorted(
        (h for h in hits.values() if _successful(h, min_score)),
        key=lambda h: (-h["relevance"], h["trajectory_id"]),
    )
    examples: list[dict[str, Any]] = []
    for hit in ranked:
        if len(examples) == k:
            break
        try:
            trajectory = client.get(hit["trajectory_id"])
        except NotFoundError:  # deleted since the search
            continue
        examples.append(
            {
                **_brief(hit, limits),
                "task": cut(task_of(trajectory), limits.task_chars),
                "steps": steps(trajectory, limits),
                "final_answer": cut(final_answer(trajectory), limits.answer_chars),
            }
        )
    return examples


def _successful(hit: dict[str, Any], min_score: float) -> bool:
    score = hit.get("score")
    if score is not None and score >= min_score:
        return True
    return hit.get("outcome") == "success" and not (hit.get("score_source") == "judge" and score is not None)


def _summary(client: Client, trajectory_id: str, limits: Limits, read: Trajectory | None = None) -> str:
    """The judge's summary, else one built from the trajectory (``read``: already fetched)."""
    judged = client.enrichments(trajectory_id).get("judge") or {}
    if judged.get("summary"):
        return cut(judged["summary"], limits.summary_chars)
    return built_summary(read or client.get(trajectory_id), limits)


def _brief(hit: dict[str, Any], limits: Limits) -> dict[str, Any]:
    score = hit.get("score")
    return {
        "id": hit["trajectory_id"],
        "task": cut(hit.get("task") or "", limits.task_chars),
        "outcome": hit.get("outcome") or "unknown",
        "score": None if score is None else round(float(score), 3),
    }


def _filters(**given: str | None) -> dict[str, str]:
    outcome = given.get("outcome")
    if outcome is not None and outcome not in OUTCOMES:
        raise InvalidInputError(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    return {name: value for name, value in given.items() if value}


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")


# --- failure patterns ------------------------------------------------------------------------------

# Pattern kinds, in the order a tie is listed.
KINDS = ("tool_error", "model_error", "cut_off", "outcome_reason")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# Outcome reasons that say who decided or that the run answered (trajotel.assemble.outcome's
# wording), not what went wrong: left out of the patterns.
_NOT_WHAT_WENT_WRONG = ("explicit trajotel.outcome", "ended with an answer")


def analyze_failure_patterns(
    task: str | None = None,
    agent: str | None = None,
    k: int = 20,
    max_score: float = 0.5,
    *,
    client: Client | None = None,
    limits: Limits | None = None,
) -> dict[str, Any]:
    """What went wrong in failed or low-scoring runs: the ``k`` runs scoring at most
    ``max_score`` most similar to ``task``, or without a task the ``k`` most recent runs whose
    outcome is failure or partial (of ``agent`` when given). Returns ``{"runs", "patterns",
    "unexplained", "digest"}``; ``unexplained`` lists the runs showing none of the patterns with
    their summary (the judge's, else a built one); a pattern is ``{"kind", "pattern", "count", "share",
    "example_ids", "example"}``, most frequent first (``count``: runs showing it)."""
    client, limits = client or Client(), limits or Limits()
    _check_count("k", k)
    if task:
        found = client.search(task, k=k, max_score=max_score, **_filters(agent=agent))
        scores = {h["trajectory_id"]: h.get("score") for h in found}
    else:
        rows = client.list(limit=k, outcome="failure,partial", **_filters(agent=agent))
        scores = {r["trajectory_id"]: None for r in rows}
    runs: list[dict[str, Any]] = []
    by_pattern: dict[tuple[str, str], dict[str, Any]] = {}
    unexplained: list[dict[str, Any]] = []
    for trajectory_id, score in scores.items():
        try:
            trajectory = client.get(trajectory_id)
        except NotFoundError:
            continue
        runs.append(
            {
                "id": trajectory_id,
                "task": cut(task_of(trajectory), limits.task_chars),
                "outcome": trajectory.outcome.label,
                "score": None if score is None else round(float(score), 3),
            }
        )
        findings = _findings(trajectory, limits)
        if not findings:
            summary = _summary(client, trajectory_id, limits, trajectory)
            unexplained.append({"id": trajectory_id, "summary": summary})
        for key, excerpt in findings.items():
            entry = by_pattern.setdefault(key, {"count": 0, "example_ids": [], "example": excerpt})
            entry["count"] += 1
            if len(entry["example_ids"]) < limits.example_ids:
                entry["example_ids"].append(trajectory_id)
    patterns = [
        {
            "kind": kind,
            "pattern": pattern,
            "count": entry["count"],
            "share": round(entry["count"] / len(runs), 3),
            "example_ids": entry["example_ids"],
            "example": entry["example"],
        }
        for (kind, pattern), entry in sorted(
            by_pattern.items(), key=lambda item: (-item[1]["count"], KINDS.index(item[0][0]), item[0][1])
        )
    ]
    digest = _digest(task, agent, runs, patterns, unexplained, limits.digest_patterns)
    return {"runs": runs, "patterns": patterns, "unexplained": unexplained, "digest": digest}


def _findings(trajectory: Trajectory, limits: Limits) -> dict[tuple[str, str], str]:
    """(kind, pattern) -> an excerpt showing it, each pattern once per run."""
    found: dict[tuple[str, str], str] = {}
    named = set()  # error types and finish reasons found: an outcome reason naming one adds nothing
    for turn in trajectory.turns:
        if turn.error_type:
            detail = turn.status_message or turn.error_type
            found.setdefault(("model_error", f"model call failed: {turn.error_type}"), detail)
            named.add(turn.error_type)
        for reason in turn.finish_reasons:
            if reason in TRUNCATED_FINISH_REASONS:
                named.add(reason)
                output = " ".join(text_of(m.parts) for m in turn.output_messages)
                tail = "..." + output[-limits.excerpt_chars :] if output else "(no text)"
                found.setdefault(("cut_off", f"answer cut off by the token limit ({reason})"), tail)
        for call in turn.tool_calls:
            if call.status == "error":
                shown = f"{call.name}({as_text(call.arguments)}) -> {as_text(call.result)}"
                found.setdefault(
                    ("tool_error", f"tool {call.name} failed: {call.error_type or 'error'}"), shown
                )
    for reason in trajectory.outcome.reasons:
        words = set(re.findall(r"\w+", reason))
        if not reason.startswith(_NOT_WHAT_WENT_WRONG) and not named & words:
            # Numbers vary from run to run ("2 of 3 tool calls failed"): the pattern leaves them out.
            found.setdefault(("outcome_reason", _NUMBER.sub("N", reason)), reason)
    return {key: cut(excerpt, limits.excerpt_chars) for key, excerpt in found.items()}


def _digest(
    task: str | None,
    agent: str | None,
    runs: list[dict[str, Any]],
    patterns: list[dict[str, Any]],
    unexplained: list[dict[str, Any]],
    most: int,
) -> str:
    scope = f"failed or low-scoring runs similar to {task!r}" if task else "most recent failed runs"
    if agent:
        scope += f" of agent {agent!r}"
    if not runs:
        return f"No {scope} were found."
    lines = [f"{len(runs)} {scope}. What went wrong, most frequent first:"]
    for p in patterns[:most]:
        lines.append(
            f"- {p['pattern']}: {p['count']} of {len(runs)} runs ({p['share']:.0%}); e.g. {p['example']}"
        )
    if len(patterns) > most:
        lines.append(f"- ... and {len(patterns) - most} rarer patterns")
    if unexplained:
        lines.append(f"{len(unexplained)} run(s) show none of these signals:")
        lines += [f"- {run['id']}: {run['summary']}" for run in unexplained]
    return "\n".join(lines)
