"""Stage ``group``: trajectories of the same task judged together, scored relative to each
other (GRPO-style training wants how a run compares with its siblings, not an absolute grade).

Members share the tenant and the key of ``[enrich.group] key`` (the task text, or task and
agent). A group is judged once it has ``min_size`` finished members, and again when one more
arrives (its newest ``max_size`` members, always including the new one). The judge is the
``[enrich.judge]`` endpoint (``[enrich.group] model`` may name another model); each member's
rendering gets an equal share of the input budget.

Result JSON per member: ``{"group_key", "group_size", "candidate", "score", "rank",
"advantage", "reasoning", "comparison", "members", "model"}``: ``score`` in [0, 1] is the
judge's relative score, ``rank`` 1 is best, ``advantage`` is the score's z-score within the
group ((score - mean) / std, 0 when all are equal), ``members`` the ids judged together.
"""

from __future__ import annotations

import statistics
import string
from collections.abc import Sequence
from typing import Any

from trajotel.assemble.model import Trajectory
from trajotel.enrich.llm import JudgeClient, JudgeFailed, judge_settings
from trajotel.enrich.render import render
from trajotel.enrich.schema import strict_object
from trajotel.enrich.stage import BaseStage, StageResult, StageSettings
from trajotel.errors import ConfigError
from trajotel.store.enrichments import GROUP_KEYS

PROMPT_VERSION = "1"
LABELS = string.ascii_uppercase

RANKING = strict_object(
    {
        "comparison": {"type": "string"},
        "rankings": {
            "type": "array",
            "items": strict_object(
                {
                    "candidate": {"type": "string"},
                    "score": {"type": "number", "minimum": 0, "maximum": 1},
                    "reasoning": {"type": "string"},
                }
            ),
        },
    }
)

SYSTEM_PROMPT = """You compare several runs of AI agents on the same task. Each run is shown \
under "## Candidate X". Score every candidate in [0, 1] relative to the others: the best run \
gets the highest score, a clearly worse one a clearly lower score, equally good runs equal \
scores. Reply with one JSON object: comparison (what set the runs apart) and rankings: one entry \
per candidate with candidate (its letter), score and reasoning."""


def advantages(scores: Sequence[float]) -> list[float]:
    """Each score's z-score within the group (0 for all when they are equal)."""
    mean = statistics.fmean(scores)
    spread = statistics.pstdev(scores)
    return [0.0 if spread == 0 else (s - mean) / spread for s in scores]


def ranks(scores: Sequence[float]) -> list[int]:
    """1 = best; equal scores share a rank."""
    return [1 + sum(other > s for other in scores) for s in scores]


class GroupStage(BaseStage):
    name = "group"

    def __init__(self, settings: StageSettings) -> None:
        options = dict(settings.options)
        self.key = str(options.get("key", "task"))
        if self.key not in GROUP_KEYS:
            raise ConfigError(f"[enrich.group] key: {self.key!r} is not one of {', '.join(GROUP_KEYS)}")
        self.min_group_size = max(2, int(options.get("min_size", 2)))
        self.batch_size = min(len(LABELS), max(self.min_group_size, int(options.get("max_size", 16))))
        self.group_by = self.key
        judge = dict(settings.sections.get("judge", {}))
        if options.get("model"):
            judge["model"] = options["model"]
        self.settings = judge_settings(judge)
        self.client = JudgeClient(self.settings, settings.concurrency, self.name)
        self.version = f"{PROMPT_VERSION}:{self.key}:{self.settings.model}"

    def run(self, batch: Sequence[Trajectory]) -> list[StageResult]:
        members = sorted(batch, key=lambda t: (t.start_time_unix_nano, t.id))
        labels = LABELS[: len(members)]
        share = max(500, self.settings.max_input_chars // max(1, len(members)))
        text = "\n\n".join(
            f"## Candidate {label}\n{render(t, share)}" for label, t in zip(labels, members, strict=True)
        )
        messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": text}]

        def check(value: dict[str, Any]) -> list[str]:
            named = [r["candidate"] for r in value["rankings"]]
            if sorted(named) != sorted(labels):
                expected = ", ".join(labels)
                return [
                    f"$.rankings: candidates {', '.join(named) or 'none'}, expected each of {expected} once"
                ]
            return []

        try:
            value, usage = self.client.ask(messages, "group_ranking", RANKING, check)
        except JudgeFailed as exc:
            # The cost is the group's: it goes on the first member's row, not once per member.
            first = StageResult.failed(members[0].id, str(exc), **exc.usage.as_result_fields())
            return [first] + [StageResult.failed(t.id, str(exc)) for t in members[1:]]
        by_label = {r["candidate"]: r for r in value["rankings"]}
        scores = [float(by_label[label]["score"]) for label in labels]
        common = {
            "group_key": members[0].task
            if self.key == "task"
            else f"{members[0].task} / {members[0].agent_name}",
            "group_size": len(members),
            "comparison": value["comparison"],
            "members": [t.id for t in members],
            "model": self.settings.model,
        }
        out = []
        for i, (label, trajectory) in enumerate(zip(labels, members, strict=True)):
            result = {
                **common,
                "candidate": label,
                "score": scores[i],
                "rank": ranks(scores)[i],
                "advantage": advantages(scores)[i],
                "reasoning": by_label[label]["reasoning"],
            }
            cost = usage.as_result_fields() if i == 0 else {}
            out.append(StageResult(trajectory.id, result, score=scores[i], **cost))
        return out
