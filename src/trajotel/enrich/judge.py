"""Stage ``judge``: an LLM reads the trajectory and returns a summary, a score with reasoning,
the agent's key decisions and the entities involved (``[enrich.judge]``; docs/enrichment.md).

Result JSON (``JUDGEMENT`` is its schema, sent as structured output and checked on the reply):
``{"summary", "outcome", "score", "reasoning", "decisions": [{"turn_index", "type", "reasoning",
"alternatives", "chosen_action", "confidence"}], "entities": [{"name", "type", "first_turn",
"importance", "relations": [{"target", "relation"}]}], "model", "truncated"}``.
A decision or entity naming a turn the trajectory does not have makes the reply invalid.

The stage version includes the judge model: results of another model are other results, so
changing the model judges every trajectory again (bounded by the worker's limits).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from trajotel.assemble.model import Trajectory
from trajotel.enrich.llm import JudgeClient, JudgeFailed, judge_settings
from trajotel.enrich.render import MARKER, is_truncated, render
from trajotel.enrich.schema import strict_object
from trajotel.enrich.stage import BaseStage, StageResult, StageSettings

PROMPT_VERSION = "1"
DECISION_TYPES = ("tool_selection", "reasoning", "branching", "backtrack", "delegation", "sequencing")
OUTCOMES = ("success", "partial", "failure")

_UNIT = {"type": "number", "minimum": 0, "maximum": 1}
DECISION = strict_object(
    {
        "turn_index": {"type": "integer", "minimum": 0},
        "type": {"type": "string", "enum": list(DECISION_TYPES)},
        "reasoning": {"type": "string"},
        "alternatives": {"type": "array", "items": {"type": "string"}},
        "chosen_action": {"type": "string"},
        "confidence": _UNIT,
    }
)
ENTITY = strict_object(
    {
        "name": {"type": "string"},
        "type": {"type": "string"},
        "first_turn": {"type": "integer", "minimum": 0},
        "importance": _UNIT,
        "relations": {
            "type": "array",
            "items": strict_object({"target": {"type": "string"}, "relation": {"type": "string"}}),
        },
    }
)
JUDGEMENT = strict_object(
    {
        "summary": {"type": "string"},
        "outcome": {"type": "string", "enum": list(OUTCOMES)},
        "score": _UNIT,
        "reasoning": {"type": "string"},
        "decisions": {"type": "array", "items": DECISION},
        "entities": {"type": "array", "items": ENTITY},
    }
)

SYSTEM_PROMPT = f"""You evaluate one run of an AI agent (its trajectory: the task, then each model \
call with its new input, its output and the tools it called with their results).
Reply with one JSON object:
- summary: 1-3 sentences a person could search for: what the task was, what the agent did, how it ended.
- outcome: success (the task was done), partial (partly done, or done with avoidable problems) or failure.
- score: the quality of the run in [0, 1]; reasoning: why, citing turns.
- decisions: the agent's key decisions: turn_index, type ({" | ".join(DECISION_TYPES)}), \
reasoning, alternatives it had, chosen_action, confidence in [0, 1] that it was the right choice.
- entities: what the run was about (people, places, files, APIs, values): name, type, \
first_turn (where it first appears), importance in [0, 1], relations to other entities.
Turn indexes are the numbers after "### Turn". Text marked "{MARKER.format(omitted="N")}" \
was cut: do not guess what it said."""


def check_turns(trajectory: Trajectory) -> Any:
    """Rules a schema cannot say: turn indexes must exist in this trajectory."""
    last = len(trajectory.turns) - 1

    def check(value: dict[str, Any]) -> list[str]:
        found = []
        for key, field in (("decisions", "turn_index"), ("entities", "first_turn")):
            for i, item in enumerate(value[key]):
                if not 0 <= item[field] <= max(last, 0):
                    found.append(f"$.{key}[{i}].{field}: turn {item[field]} does not exist (last is {last})")
        return found

    return check


class JudgeStage(BaseStage):
    name = "judge"
    batch_size = 1  # one judgement per call; the runner's concurrency runs several at once

    def __init__(self, settings: StageSettings) -> None:
        self.settings = judge_settings(settings.options)
        self.client = JudgeClient(self.settings, settings.concurrency, self.name)
        self.version = f"{PROMPT_VERSION}:{self.settings.model}"

    def run(self, batch: Sequence[Trajectory]) -> list[StageResult]:
        return [self.judge(trajectory) for trajectory in batch]

    def judge(self, trajectory: Trajectory) -> StageResult:
        text = render(trajectory, self.settings.max_input_chars)
        messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": text}]
        try:
            value, usage = self.client.ask(
                messages, "trajectory_judgement", JUDGEMENT, check_turns(trajectory)
            )
        except JudgeFailed as exc:
            return StageResult.failed(trajectory.id, str(exc), **exc.usage.as_result_fields())
        value["model"] = self.settings.model
        value["truncated"] = is_truncated(text)
        return StageResult(
            trajectory.id,
            value,
            score=float(value["score"]),
            label=value["outcome"],
            summary=value["summary"],
            **usage.as_result_fields(),
        )
