"""Feedback records and the rule that turns them into rewards (docs/api.md).

Feedback is append-only: rows in ``feedback_data`` (REST, SDK, SQL inserts) plus GenAI
``gen_ai.evaluation.result`` events, which materialized views of migration 0006 extract at insert
and the ``feedback_all`` view places on their trajectory and turn. The reward rule lives in the
store (table ``reward_rule``) so that the SQL views, the REST API and the Python readers apply the
same one; the collector writes its ``[feedback]`` configuration there at start.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from trajotel.assemble.model import Feedback
from trajotel.config import FeedbackConfig
from trajotel.errors import ConfigError, InvalidInputError
from trajotel.normalize.values import ns_to_text
from trajotel.store.connection import Store

SOURCES = ("api", "human", "heuristic", "llm_judge", "rule")
RUN_SOURCE = "run"  # in the rule only: the reward the run recorded itself (trajotel.reward)
COMBINES = ("latest", "mean")


@dataclass(frozen=True)
class RewardRule:
    """The final reward is the value of the strongest listed source that has one (its newest,
    or the mean of its values); feedback from ``review_sources`` marks a trajectory reviewed."""

    sources: tuple[str, ...] = ("human", "api", RUN_SOURCE, "rule", "llm_judge", "heuristic")
    combine: str = "latest"
    review_sources: tuple[str, ...] = ("human",)

    @classmethod
    def from_config(cls, config: FeedbackConfig) -> RewardRule:
        rule = cls(
            sources=_names(config.reward_sources, "feedback.reward_sources", (*SOURCES, RUN_SOURCE)),
            combine=config.reward_combine.strip(),
            review_sources=_names(config.review_sources, "feedback.review_sources", SOURCES),
        )
        if rule.combine not in COMBINES:
            raise ConfigError(
                f"feedback.reward_combine: {config.reward_combine!r} is not one of {', '.join(COMBINES)}"
            )
        return rule


def _names(text: str, where: str, allowed: Sequence[str]) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in allowed]
    if unknown:
        raise ConfigError(f"{where}: unknown source {unknown[0]!r}", hint=f"sources: {', '.join(allowed)}")
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}: a source is listed twice in {text!r}")
    return names


def write_reward_rule(store: Store, rule: RewardRule) -> None:
    """Make ``rule`` the one every view and reader of this store applies."""
    store.insert_json_rows(
        "reward_rule",
        [
            {
                "Key": 0,
                "Sources": list(rule.sources),
                "Combine": rule.combine,
                "ReviewSources": list(rule.review_sources),
                "UpdatedAt": ns_to_text(time.time_ns())[:-3],
            }
        ],
    )


def read_reward_rule(store: Store) -> RewardRule:
    rows = store.query("SELECT Sources, Combine, ReviewSources FROM reward_rule FINAL WHERE Key = 0").rows
    if not rows:
        return RewardRule()
    sources, combine, review = rows[0]
    return RewardRule(tuple(sources), str(combine), tuple(review))


# --- records ----------------------------------------------------------------------------------


def new_feedback(
    trajectory_id: str,
    *,
    value: float | None = None,
    label: str | None = None,
    comment: str | None = None,
    source: str = "api",
    turn_index: int | None = None,
    author: str | None = None,
    key: str | None = None,
    max_text_chars: int = FeedbackConfig.max_text_chars,
) -> Feedback:
    """A checked feedback record. Its id is derived from its content (or from ``key``, the
    sender's idempotency key), so a retried request stores nothing new."""
    if source not in SOURCES:
        raise InvalidInputError(f"feedback source {source!r} is not one of {', '.join(SOURCES)}")
    if value is not None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise InvalidInputError(f"feedback value must be a finite number, not {value!r}")
        value = float(value)
    if turn_index is not None and (isinstance(turn_index, bool) or not isinstance(turn_index, int)):
        raise InvalidInputError(f"feedback turn_index must be an integer, not {turn_index!r}")
    if turn_index is not None and turn_index < 0:
        raise InvalidInputError(f"feedback turn_index must be >= 0, not {turn_index}")
    for name, text in (("label", label), ("comment", comment), ("author", author), ("id", key)):
        if text is not None and not isinstance(text, str):
            raise InvalidInputError(f"feedback {name} must be a string, not {type(text).__name__}")
        if text is not None and len(text) > max_text_chars:
            raise InvalidInputError(
                f"feedback {name} has {len(text)} characters; at most {max_text_chars} are accepted",
                hint="the limit is feedback.max_text_chars",
            )
    if value is None and not label and not comment:
        raise InvalidInputError("feedback needs a value, a label or a comment")
    identity: list[Any] = (
        ["key", key] if key else [turn_index, source, value, label or "", comment or "", author or ""]
    )
    digest = hashlib.blake2b(json.dumps([trajectory_id, *identity]).encode(), digest_size=16).hexdigest()
    return Feedback(
        id=digest,
        trajectory_id=trajectory_id,
        turn_index=turn_index,
        source=source,
        value=value,
        label=label or None,
        comment=comment or None,
        author=author or None,
        created_at_unix_nano=time.time_ns() // 1000 * 1000,  # stored to the microsecond
    )


def write_feedback(store: Store, tenant: str, records: Iterable[Feedback]) -> list[Feedback]:
    """Store the records not stored before (a retry is a no-op); returns what is stored now."""
    records = list(records)
    known = {
        (str(t), str(i))
        for t, i in store.query(
            "SELECT TrajectoryId, Id FROM feedback_data WHERE Tenant = {tenant:String} "
            "AND Id IN {ids:Array(String)}",
            {"tenant": tenant, "ids": [f.id for f in records]},
        ).rows
    }
    fresh = [f for f in records if (f.trajectory_id, f.id) not in known]
    store.insert_json_rows(
        "feedback_data",
        (
            {
                "Tenant": tenant,
                "Id": f.id,
                "TrajectoryId": f.trajectory_id,
                "TurnIndex": f.turn_index,
                "Source": f.source,
                "Value": f.value,
                "Label": f.label or "",
                "Comment": f.comment or "",
                "Author": f.author or "",
                "CreatedAt": ns_to_text(f.created_at_unix_nano)[:-3],
            }
            for f in fresh
        ),
    )
    return fresh


def read_feedback(store: Store, tenant: str, trajectory_ids: Sequence[str]) -> dict[str, list[Feedback]]:
    """Feedback of the given trajectories (stored rows and evaluation events), oldest first. A
    retried record was stored once per id; the first copy counts."""
    if not trajectory_ids:
        return {}
    result = store.query(
        "SELECT Id, TrajectoryId, TurnIndex, Source, Value, Label, Comment, Author, "
        "toUnixTimestamp64Nano(toDateTime64(CreatedAt, 9)) AS CreatedNs FROM feedback_all "
        "WHERE Tenant = {tenant:String} AND TrajectoryId IN {ids:Array(String)} "
        "ORDER BY CreatedAt, Id LIMIT 1 BY TrajectoryId, Id",
        {"tenant": tenant, "ids": list(trajectory_ids)},
    )
    out: dict[str, list[Feedback]] = {tid: [] for tid in trajectory_ids}
    for row in result.dicts():
        out[row["TrajectoryId"]].append(
            Feedback(
                id=row["Id"],
                trajectory_id=row["TrajectoryId"],
                turn_index=row["TurnIndex"],
                source=row["Source"],
                value=row["Value"],
                label=row["Label"] or None,
                comment=row["Comment"] or None,
                author=row["Author"] or None,
                created_at_unix_nano=int(row["CreatedNs"]),
            )
        )
    return out
