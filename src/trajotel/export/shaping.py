"""How trajectories become training examples; shared by the format modules.

* A **conversation** is what one chain of model calls saw and said: the last call's full input
  plus its output. Most runs are one chain; a run whose history was reset or rewritten (context
  compaction, a planner and a worker with their own histories) has one per chain, the last
  being the main one. An assistant message in it is *trainable* when it is the output of one of
  the trajectory's own turns (so few-shot examples or an earlier session's history are not);
  those messages are taken from the turn's output, with the reasoning agents usually strip from
  the next call's input.
* A **turn example** is one call: its input and its output (only the output trainable).
* The **prompt** of a run is its first call's input (system + the task, as the model first saw it).
* System instructions recorded apart from the messages (Anthropic's ``system``, OpenAI's
  ``instructions``) become the first system message, merged with one the input already starts
  with; ``ExportOptions.system_prompt = False`` drops every system message.
* **Rewards**: a turn's explicitly recorded reward, else its share of the trajectory's reward by
  the chosen credit method (``trajotel.enrich.credit``).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from trajotel.assemble.model import Message, Part, Trajectory, Turn
from trajotel.enrich.credit import assign
from trajotel.export.chat import SYSTEM_ROLES, Unexpressible, message_text, role_of, texts
from trajotel.export.format import ExportOptions

log = logging.getLogger(__name__)


@dataclass
class Conversation:
    messages: list[Message]
    trainable: list[bool]  # per message: an assistant message this trajectory's model produced
    turns: list[Turn]  # the turns whose outputs it holds, in order; the last one ends it

    @property
    def end(self) -> Turn:
        return self.turns[-1]


def _json_key(value: Any) -> Any:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _part_key(part: Part) -> tuple[Any, ...]:
    return (
        part.type,
        part.content,
        part.id,
        part.name,
        _json_key(part.arguments),
        _json_key(part.response),
        part.uri,
        part.file_id,
    )


class _Keys:
    """Loose message identity: role and parts, reasoning left out (agents often drop it from the
    history they send back), cached per message object (turns share their history's objects)."""

    def __init__(self) -> None:
        # The message is kept beside its key so its id cannot be reused while cached.
        self._cache: dict[int, tuple[Message, tuple[Any, ...]]] = {}

    def __call__(self, message: Message) -> tuple[Any, ...]:
        cached = self._cache.get(id(message))
        if cached is None:
            parts = tuple(_part_key(p) for p in message.parts if p.type != "reasoning")
            cached = self._cache[id(message)] = (message, (role_of(message), parts))
        return cached[1]


def output_of(turn: Turn) -> Message | None:
    """The turn's chosen output (the first choice), None when the call produced nothing."""
    return turn.output_messages[0] if turn.output_messages else None


def with_system(trajectory: Trajectory, messages: Sequence[Message], options: ExportOptions) -> list[Message]:
    """``messages`` with the trajectory's system instructions applied (module docstring)."""
    if not options.system_prompt:
        return [m for m in messages if role_of(m) not in SYSTEM_ROLES]
    instructions = "\n".join(texts(trajectory.system_instructions))
    if not instructions:
        return list(messages)
    if messages and role_of(messages[0]) in SYSTEM_ROLES:
        first = messages[0]
        existing = message_text(first)
        if instructions in existing:
            return list(messages)
        merged = Message(role=first.role, parts=[Part(type="text", content=f"{instructions}\n\n{existing}")])
        return [merged, *messages[1:]]
    return [Message(role="system", parts=[Part(type="text", content=instructions)]), *messages]


def prompt(trajectory: Trajectory, options: ExportOptions, turn: Turn | None = None) -> list[Message]:
    """A call's input with the system instructions; by default the first call's (the run's prompt)."""
    if turn is None:
        if not trajectory.turns:
            return []
        turn = trajectory.turns[0]
    return with_system(trajectory, turn.input_messages, options)


def turn_example(trajectory: Trajectory, turn: Turn, options: ExportOptions) -> Conversation | None:
    output = output_of(turn)
    if output is None:
        return None
    messages = [*prompt(trajectory, options, turn), output]
    return Conversation(messages, [False] * (len(messages) - 1) + [True], [turn])


def conversations(trajectory: Trajectory, options: ExportOptions) -> list[Conversation]:
    """One conversation per chain of calls, in the order their last calls were made."""
    keys = _Keys()
    turns = [t for t in trajectory.turns if output_of(t) is not None]
    inputs = [[keys(m) for m in t.input_messages] for t in turns]
    produced: dict[tuple[Any, ...], tuple[Turn, Message]] = {}
    ends: list[int] = []
    for i, turn in enumerate(turns):
        output = output_of(turn)
        assert output is not None
        produced.setdefault(keys(output), (turn, output))
        context = [*inputs[i], keys(output)]
        if not any(later[: len(context)] == context for later in inputs[i + 1 :]):
            ends.append(i)
    result = []
    for i in ends:
        end = turns[i]
        raw = [*end.input_messages, output_of(end)]
        messages, trainable, used = [], [], []
        for message in raw:
            assert message is not None
            found = produced.get(keys(message)) if role_of(message) == "assistant" else None
            if found is not None:
                if all(t is not found[0] for t in used):
                    used.append(found[0])
                message = found[1]
            messages.append(message)
            trainable.append(found is not None)
        system = with_system(trajectory, messages, options)
        shift = len(system) - len(messages)  # a system message added (+1) or dropped (-n)
        if shift >= 0:
            trainable = [False] * shift + trainable
        else:
            keep = [role_of(m) not in SYSTEM_ROLES for m in messages]
            trainable = [t for t, k in zip(trainable, keep, strict=True) if k]
        result.append(Conversation(system, trainable, used))
    return result


def main_conversation(trajectory: Trajectory, options: ExportOptions) -> Conversation | None:
    """The conversation of the run's last chain (the whole run, for most agents)."""
    found = conversations(trajectory, options)
    return found[-1] if found else None


def examples(trajectory: Trajectory, options: ExportOptions) -> list[Conversation]:
    """What one trajectory yields at ``options.level``: its conversations, or one per turn."""
    if options.level == "turn":
        return [c for t in trajectory.turns if (c := turn_example(trajectory, t, options)) is not None]
    return conversations(trajectory, options)


def each_trajectory(
    items: Sequence[Trajectory], build: Callable[[Trajectory], dict[str, Any] | None]
) -> Iterator[dict[str, Any]]:
    """``build``'s record for every trajectory; one the format cannot express
    (``Unexpressible``) or that ``build`` declines (None) is left out."""
    for trajectory in items:
        record = expressed(trajectory, build, trajectory)
        if record is not None:
            yield record


def each_pair(
    group: Sequence[Trajectory], build: Callable[[Trajectory, Trajectory], dict[str, Any] | None]
) -> Iterator[dict[str, Any]]:
    """``build``'s record for every (preferred, rejected) pair of ``preference_pairs``; a pair
    the format cannot express or that ``build`` declines is left out."""
    for chosen, rejected in preference_pairs(group):
        record = expressed(chosen, build, chosen, rejected)
        if record is not None:
            yield record


def each_example(
    items: Sequence[Trajectory],
    options: ExportOptions,
    build: Callable[[Trajectory, Conversation], dict[str, Any] | None],
) -> Iterator[dict[str, Any]]:
    """``build``'s record for every example of every trajectory; an example the format cannot
    express (``Unexpressible``) or that ``build`` declines (None) is left out."""
    for trajectory in items:
        for example in examples(trajectory, options):
            record = expressed(trajectory, build, trajectory, example)
            if record is not None:
                yield record


# Why records were left out, counted by reason while the export driver collects them (its
# manifest shows the most common: a user whose export came out empty sees why).
skip_reasons: ContextVar[Counter[str] | None] = ContextVar("trajotel_export_skip_reasons", default=None)
MAX_REASON_CHARS = 200


def expressed(trajectory: Trajectory, build: Callable[..., Any], *args: Any) -> Any:
    """``build(*args)``, or None (logged, and counted in ``skip_reasons``) when the format
    cannot express it."""
    try:
        return build(*args)
    except Unexpressible as exc:
        log.debug("trajectory %s: record left out: %s", trajectory.id, exc)
        reasons = skip_reasons.get()
        if reasons is not None:
            reasons[str(exc)[:MAX_REASON_CHARS]] += 1
        return None


def split_at_first_trained(conversation: Conversation) -> tuple[list[Message], list[Message]]:
    """(prompt, completion): the conversation cut before its first trainable message."""
    k = conversation.trainable.index(True) if True in conversation.trainable else len(conversation.messages)
    return conversation.messages[:k], conversation.messages[k:]


def final_answer(trajectory: Trajectory) -> str:
    """The text of the run's last output (its answer)."""
    for turn in reversed(trajectory.turns):
        if (output := output_of(turn)) is not None:
            return message_text(output)
    return ""


def reference_fields(trajectory: Trajectory, options: ExportOptions) -> dict[str, Any]:
    """What a grader or reward function compares against, from the recorded run: its id, task,
    final answer, reward and outcome, and the metadata keys asked for."""
    fields: dict[str, Any] = {
        "trajectory_id": trajectory.id,
        "task": trajectory.task,
        "reference_answer": final_answer(trajectory),
        "reference_reward": trajectory.reward,
        "outcome": trajectory.outcome.label,
    }
    for key in options.metadata_keys:
        fields.setdefault(key, trajectory.metadata.get(key))
    return fields


# --- rewards --------------------------------------------------------------------------------------


def turn_rewards(trajectory: Trajectory, options: ExportOptions) -> list[float | None]:
    """Per turn: its recorded reward, else its credit of the trajectory's reward (None when the
    trajectory has no reward either)."""
    n = len(trajectory.turns)
    credit: list[float | None] = [None] * n
    if trajectory.reward is not None:
        credit = list(assign(options.credit, trajectory, trajectory.reward))
    return [t.reward if t.reward is not None else c for t, c in zip(trajectory.turns, credit, strict=True)]


def desirable(trajectory: Trajectory) -> bool | None:
    """KTO's label: the outcome when it is success or failure, else whether the reward is
    positive; None when neither is known."""
    if trajectory.outcome.label in ("success", "failure"):
        return trajectory.outcome.label == "success"
    if trajectory.reward is not None:
        return trajectory.reward > 0
    return None


def preference_pairs(group: Sequence[Trajectory]) -> list[tuple[Trajectory, Trajectory]]:
    """(preferred, rejected) pairs from runs of one task: the best with the worst, the second
    best with the second worst, ..., each run used once, only where the rewards differ."""
    rated = sorted((t for t in group if t.reward is not None), key=lambda t: (-(t.reward or 0.0), t.id))
    pairs = []
    for i in range(len(rated) // 2):
        high, low = rated[i], rated[-1 - i]
        if (high.reward or 0.0) > (low.reward or 0.0):
            pairs.append((high, low))
    return pairs


def split_pair(
    chosen: Sequence[Message], rejected: Sequence[Message]
) -> tuple[list[Message], list[Message], list[Message]] | None:
    """The shared prompt of two conversations and where each goes from there: the prompt ends
    with a user or tool message and both continuations start with an assistant message. None
    when they share no such prompt (different tasks) or do not differ."""
    keys = _Keys()
    n = 0
    for a, b in zip(chosen, rejected, strict=False):
        if keys(a) != keys(b):
            break
        n += 1
    if n == len(chosen) == len(rejected):
        return None  # the same conversation (reasoning aside): nothing to prefer
    while n > 0 and not (
        role_of(chosen[n - 1]) in ("user", "tool")
        and n < len(chosen)
        and n < len(rejected)
        and role_of(chosen[n]) == "assistant"
        and role_of(rejected[n]) == "assistant"
    ):
        n -= 1
    if n == 0:
        return None
    return list(chosen[:n]), list(chosen[n:]), list(rejected[n:])
