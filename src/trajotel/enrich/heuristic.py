"""Stage ``heuristic``: an outcome and a score in [0, 1] with no LLM (on by default).

The outcome is the one assembly found (``trajotel.assemble.outcome``: explicit outcome, explicit
reward, else the finish-reason / error / tool-failure heuristic), with its reasons. The score:

* from the outcome: success -> 0.5 + confidence / 2, failure -> 0.5 - confidence / 2,
  partial -> 0.5, unknown -> no score;
* an explicit reward in [0, 1] is the score itself (the user said so);
* then minus ``TOOL_ERROR_PENALTY`` x the share of failed tool calls and ``MODEL_ERROR_PENALTY``
  x the share of failed model calls (a run that stumbled to success is worth less), clamped.

Result JSON: ``{"outcome", "confidence", "reasons", "source", "signals": {...}}`` where the
signals are the counts the score rests on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from trajotel.assemble.model import Trajectory
from trajotel.enrich.stage import BaseStage, StageResult, StageSettings

TOOL_ERROR_PENALTY = 0.2
MODEL_ERROR_PENALTY = 0.1


def signals(trajectory: Trajectory) -> dict[str, Any]:
    calls = [call for turn in trajectory.turns for call in turn.tool_calls]
    last = trajectory.turns[-1] if trajectory.turns else None
    return {
        "turns": len(trajectory.turns),
        "model_errors": sum(1 for turn in trajectory.turns if turn.error_type),
        "tool_calls": len(calls),
        "tool_errors": sum(1 for call in calls if call.status == "error"),
        "final_finish_reason": last.finish_reason if last else None,
        "reward": trajectory.reward,
    }


def score(trajectory: Trajectory, found: dict[str, Any]) -> float | None:
    outcome = trajectory.outcome
    reward = trajectory.reward
    if reward is not None and 0.0 <= reward <= 1.0:
        base = reward
    elif outcome.label == "success":
        base = 0.5 + outcome.confidence / 2
    elif outcome.label == "failure":
        base = 0.5 - outcome.confidence / 2
    elif outcome.label == "partial":
        base = 0.5
    else:
        return None
    if found["tool_calls"]:
        base -= TOOL_ERROR_PENALTY * found["tool_errors"] / found["tool_calls"]
    if found["turns"]:
        base -= MODEL_ERROR_PENALTY * found["model_errors"] / found["turns"]
    return min(1.0, max(0.0, base))


class HeuristicStage(BaseStage):
    name = "heuristic"
    version = "1"
    batch_size = 50

    def __init__(self, settings: StageSettings | None = None) -> None:
        pass

    def run(self, batch: Sequence[Trajectory]) -> list[StageResult]:
        out = []
        for trajectory in batch:
            found = signals(trajectory)
            outcome = trajectory.outcome
            result = {
                "outcome": outcome.label,
                "confidence": outcome.confidence,
                "reasons": outcome.reasons,
                "source": outcome.source,
                "signals": found,
            }
            out.append(
                StageResult(trajectory.id, result, score=score(trajectory, found), label=outcome.label)
            )
        return out
