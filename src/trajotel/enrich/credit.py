"""Per-turn credit assignment: how a trajectory's reward is spread over its turns.

Every method returns one number per turn, in turn order (``[]`` for a trajectory with no turns);
exports pick one by name (``assign(method, ...)``, ``METHODS``):

* ``uniform``: every turn gets the reward (what GRPO-style training does with an outcome reward).
* ``discounted``: turn t of T gets ``reward * gamma ** (T - 1 - t)``: the last turn the full
  reward, earlier ones less (``gamma`` in (0, 1]; 1 is uniform).
* ``tool_status``: intermediate rewards from the tools: each ok tool call a turn made adds
  ``ok_bonus``, each failed one subtracts ``error_penalty``; the last turn also gets the reward.
* ``decision_based``: the reward spread by the judge's decisions: a turn's weight is 1 plus the
  confidence of each decision the judge recorded at it (a turn where the agent chose well counts
  more), normalised so the credits add up to ``reward * T``, as ``uniform``'s do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from trajotel.assemble.model import Trajectory
from trajotel.errors import InvalidInputError


def uniform(trajectory: Trajectory, reward: float) -> list[float]:
    return [reward] * len(trajectory.turns)


def discounted(trajectory: Trajectory, reward: float, gamma: float = 0.9) -> list[float]:
    if not 0.0 < gamma <= 1.0:
        raise InvalidInputError(f"discounted credit: gamma must be in (0, 1], got {gamma}")
    n = len(trajectory.turns)
    return [reward * gamma ** (n - 1 - t) for t in range(n)]


def tool_status(
    trajectory: Trajectory, reward: float, ok_bonus: float = 0.1, error_penalty: float = 0.1
) -> list[float]:
    credits = []
    for turn in trajectory.turns:
        ok = sum(1 for call in turn.tool_calls if call.status == "ok")
        failed = sum(1 for call in turn.tool_calls if call.status == "error")
        credits.append(ok * ok_bonus - failed * error_penalty)
    if credits:
        credits[-1] += reward
    return credits


def decision_based(
    trajectory: Trajectory, reward: float, decisions: Sequence[Mapping[str, Any]] = ()
) -> list[float]:
    """``decisions``: the judge's (``enrichments_latest`` result of stage judge, key "decisions");
    ones naming a turn the trajectory lacks are ignored."""
    n = len(trajectory.turns)
    weights = [1.0] * n
    for decision in decisions:
        turn = decision.get("turn_index")
        if isinstance(turn, int) and 0 <= turn < n:
            weights[turn] += min(1.0, max(0.0, float(decision.get("confidence") or 0.0)))
    total = sum(weights)
    return [reward * n * w / total for w in weights]


METHODS: dict[str, Callable[..., list[float]]] = {
    "uniform": uniform,
    "discounted": discounted,
    "tool_status": tool_status,
    "decision_based": decision_based,
}


def assign(method: str, trajectory: Trajectory, reward: float, **options: Any) -> list[float]:
    """Per-turn credits by the method named ``method`` (options: ``gamma``, ``ok_bonus``,
    ``error_penalty``, ``decisions``, as the method takes)."""
    function = METHODS.get(method)
    if function is None:
        raise InvalidInputError(f"unknown credit method {method!r}", hint=f"methods: {', '.join(METHODS)}")
    try:
        return function(trajectory, reward, **options)
    except TypeError as exc:
        raise InvalidInputError(f"credit method {method!r}: {exc}") from None
