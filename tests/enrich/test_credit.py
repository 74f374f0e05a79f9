"""Per-turn credit assignment: properties every method must have, on generated trajectories."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trajotel.assemble.model import ToolCall, Trajectory, Turn
from trajotel.enrich import credit
from trajotel.errors import InvalidInputError

statuses = st.lists(st.lists(st.sampled_from(["ok", "error", "pending"]), max_size=3), min_size=0, max_size=8)
rewards = st.floats(min_value=-10, max_value=10, allow_nan=False)


def trajectory(tool_statuses: list[list[str]]) -> Trajectory:
    turns = [
        Turn(
            index=i,
            trace_id="t",
            span_id=f"s{i}",
            tool_calls=[ToolCall(f"c{i}{j}", "tool", status=s) for j, s in enumerate(calls)],
        )
        for i, calls in enumerate(tool_statuses)
    ]
    return Trajectory(id="x", turns=turns)


@settings(max_examples=60, deadline=None)
@given(statuses, rewards, st.floats(min_value=0.01, max_value=1.0))
def test_every_method_gives_one_credit_per_turn(tools: list[list[str]], reward: float, gamma: float) -> None:
    t = trajectory(tools)
    for method in credit.METHODS:
        assert len(credit.assign(method, t, reward)) == len(t.turns)
    found = credit.discounted(t, reward, gamma)
    if found:
        assert found[-1] == pytest.approx(reward)  # the last turn gets the full reward
        assert all(abs(a) <= abs(b) + 1e-12 for a, b in itertools.pairwise(found))  # earlier turns less
    assert credit.discounted(t, reward, 1.0) == pytest.approx(credit.uniform(t, reward))


@settings(max_examples=60, deadline=None)
@given(statuses, rewards, st.lists(st.tuples(st.integers(-2, 10), st.floats(0, 1)), max_size=6))
def test_decision_based_spreads_the_uniform_total(
    tools: list[list[str]], reward: float, decisions: list
) -> None:
    t = trajectory(tools)
    judged = [{"turn_index": turn, "confidence": confidence} for turn, confidence in decisions]
    found = credit.decision_based(t, reward, judged)
    assert sum(found) == pytest.approx(sum(credit.uniform(t, reward)), abs=1e-9)
    weighted = {
        d["turn_index"] for d in judged if 0 <= d["turn_index"] < len(t.turns) and d["confidence"] > 0
    }
    for i, value in enumerate(found):
        if i not in weighted and weighted and reward > 0:
            assert value <= reward  # turns without a decision give way to those with one


@settings(max_examples=60, deadline=None)
@given(statuses, rewards)
def test_tool_status_rewards_ok_tools_and_penalises_failures(tools: list[list[str]], reward: float) -> None:
    t = trajectory(tools)
    found = credit.tool_status(t, reward, ok_bonus=0.2, error_penalty=0.3)
    for i, calls in enumerate(tools):
        expected = (
            0.2 * calls.count("ok") - 0.3 * calls.count("error") + (reward if i == len(tools) - 1 else 0)
        )
        assert found[i] == pytest.approx(expected)


def test_bad_methods_and_options_are_clear_errors() -> None:
    t = trajectory([["ok"]])
    with pytest.raises(InvalidInputError, match="unknown credit method 'greedy'"):
        credit.assign("greedy", t, 1.0)
    with pytest.raises(InvalidInputError, match="gamma must be in"):
        credit.assign("discounted", t, 1.0, gamma=1.5)
    with pytest.raises(InvalidInputError, match="credit method 'uniform'"):
        credit.assign("uniform", t, 1.0, gamma=0.5)
