"""A trajectory's outcome: explicit signals first, then a heuristic that says why.

Evidence, strongest first (the first that applies decides):

1. ``trajotel.outcome`` on the root span (``t.outcome(...)``): confidence 1.0.
2. ``trajotel.reward`` on the root span: success when above ``REWARD_SUCCESS_ABOVE``, failure
   otherwise; confidence 0.9.
3. The heuristic, for finished trajectories only (a running one is "unknown"):
   the root span failed (failure, 0.9); the last model call failed (failure, 0.8); the last model
   call asked for tools and no model call followed — the run was cut off, by a turn limit or a
   crash (partial, 0.6); the last call's finish reason: truncated by the token limit (partial,
   0.6), blocked by a content filter (failure, 0.7), an answer (success, 0.6). More than
   ``TOOL_FAILURE_RATIO_PARTIAL`` of the tool calls failing turns a success into a partial (0.5).

Enrichment (LLM judges) and feedback supersede this later; the reasons say what it rests on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from trajotel import semconv as sc
from trajotel.assemble.model import Outcome, Turn

EXPLICIT_LABELS = ("success", "partial", "failure")
REWARD_SUCCESS_ABOVE = 0.0
TOOL_FAILURE_RATIO_PARTIAL = 0.5

# Raw finish reasons of the providers trajotel sees, by what they mean for the run.
_ANSWERED = {"stop", "end_turn", "stop_sequence", "completed", "STOP", "eos"}
TRUNCATED_FINISH_REASONS = {
    "length",
    "max_tokens",
    "max_output_tokens",
    "MAX_TOKENS",
    "model_context_window_exceeded",
}
_FILTERED = {"content_filter", "refusal", "SAFETY", "safety", "blocklist", "prohibited_content"}
_WANTS_TOOLS = {"tool_calls", "tool_use", "function_call", "tool_call"}


def outcome(root: Mapping[str, Any] | None, turns: Sequence[Turn], *, complete: bool) -> Outcome:
    """The outcome of a trajectory whose root span is ``root`` (None: no root) and turns ``turns``."""
    attributes = root["SpanAttributes"] if root is not None else {}
    explicit = attributes.get(sc.TRAJOTEL_OUTCOME)
    if explicit in EXPLICIT_LABELS:
        reason = attributes.get(sc.TRAJOTEL_OUTCOME_REASON)
        reasons = ["explicit trajotel.outcome"] + ([reason] if reason else [])
        return Outcome(label=explicit, confidence=1.0, reasons=reasons, source="explicit")
    reward = _number(attributes.get(sc.TRAJOTEL_REWARD))
    if reward is not None:
        label = "success" if reward > REWARD_SUCCESS_ABOVE else "failure"
        reasons = [f"explicit trajotel.reward {reward:g}"]
        if attributes.get(sc.TRAJOTEL_REWARD_REASON):
            reasons.append(attributes[sc.TRAJOTEL_REWARD_REASON])
        return Outcome(label=label, confidence=0.9, reasons=reasons, source="reward")
    if not complete:
        return Outcome(label="unknown", confidence=0.0, reasons=["still running"], source="heuristic")
    return _heuristic(root, turns)


def _heuristic(root: Mapping[str, Any] | None, turns: Sequence[Turn]) -> Outcome:
    if root is not None and root["StatusCode"] == "Error":
        reason = f"root span {root['SpanName']!r} failed"
        if root["StatusMessage"]:
            reason += f": {root['StatusMessage']}"
        return _guess("failure", 0.9, [reason])
    if not turns:
        return _guess("unknown", 0.0, ["no model calls"])
    last = turns[-1]
    if last.error_type:
        return _guess("failure", 0.8, [f"last model call failed: {last.error_type}"])
    finish = last.finish_reason
    if last.tool_calls or finish in _WANTS_TOOLS:
        names = ", ".join(sorted({c.name for c in last.tool_calls if c.name})) or "tools"
        return _guess("partial", 0.6, [f"cut off: the last model call asked for {names} and none followed"])
    if finish in TRUNCATED_FINISH_REASONS:
        return _guess("partial", 0.6, [f"last answer truncated (finish reason {finish})"])
    if finish in _FILTERED:
        return _guess("failure", 0.7, [f"last answer blocked (finish reason {finish})"])
    if finish in _ANSWERED or finish is None:
        result = _guess("success", 0.6, [f"ended with an answer (finish reason {finish or 'not reported'})"])
        return _with_tool_failures(result, turns)
    return _guess("unknown", 0.0, [f"unrecognised final finish reason {finish!r}"])


def _with_tool_failures(result: Outcome, turns: Sequence[Turn]) -> Outcome:
    calls = [call for turn in turns for call in turn.tool_calls if call.status is not None]
    failed = [call for call in calls if call.status == "error"]
    if not failed:
        return result
    reason = f"{len(failed)} of {len(calls)} tool calls failed"
    if len(failed) / len(calls) > TOOL_FAILURE_RATIO_PARTIAL:
        return _guess("partial", 0.5, [*result.reasons, reason])
    return _guess(result.label, result.confidence, [*result.reasons, reason])


def _guess(label: str, confidence: float, reasons: list[str]) -> Outcome:
    return Outcome(label=label, confidence=confidence, reasons=reasons, source="heuristic")


def _number(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
