"""Agent Lightning triplet files checked with agentlightning 0.3's own types and adapter
(``agentlightning`` consumer venv).

    python agentlightning_triplets.py {turn|trajectory} FILE.jsonl

* turn level: every line validates as ``agentlightning.Triplet``; trajectory level: every line
  as ``agentlightning.RolloutLegacy`` (its triplets as ``Triplet``s);
* the cross-check: for each rollout, the LLM-call spans Agent Lightning's tracer would have
  recorded for those calls (``openai.chat.completion`` spans with OpenLLMetry-style flattened
  ``gen_ai.prompt.*`` / ``gen_ai.completion.*`` attributes, ``prompt_token_ids``,
  ``response_token_ids``, ``gen_ai.response.id``, and a reward annotation span after each
  rewarded call) are built with ``Span.from_attributes`` and ``flatten_attributes``, and
  ``TracerTraceToTriplet().adapt`` must give back the file's triplets: the same token ids,
  messages, rewards, response ids and order. ``TraceToMessages().adapt`` must rebuild one
  OpenAI conversation per call.

Prints a JSON summary; exits 1 with the reasons when the consumer rejects the file.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pydantic
from agentlightning import RolloutLegacy, Span, Triplet
from agentlightning.adapter import TracerTraceToTriplet, TraceToMessages
from agentlightning.utils.otel import flatten_attributes


class Rejected(ValueError):
    pass


def _strip(value: Any) -> Any:
    """Values as flattened span attributes keep them: no nulls, no empty lists."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if v is not None and v != []}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def spans(rollout_id: str, triplets: list[Triplet]) -> list[Span]:
    trace_id = f"{abs(hash(rollout_id)):032x}"[-32:]
    common = {"rollout_id": rollout_id, "attempt_id": "attempt-1", "trace_id": trace_id}
    root = Span.from_attributes(
        attributes={},
        name="agent",
        span_id="f" * 16,
        sequence_id=0,
        start_time=0.0,
        end_time=1000.0,
        **common,
    )
    out = [root]
    for i, triplet in enumerate(triplets):
        attributes: dict[str, Any] = {
            "gen_ai.response.id": triplet.metadata.get("response_id") or f"call-{i}",
            "gen_ai.request.model": triplet.metadata.get("request", {}).get("model") or "",
        }
        for key, messages in (
            ("gen_ai.prompt", triplet.prompt["raw_content"]),
            ("gen_ai.completion", triplet.response["raw_content"]),
        ):
            attributes.update({f"{key}.{k}": v for k, v in flatten_attributes(_strip(messages)).items()})
        if triplet.prompt["token_ids"]:
            attributes["prompt_token_ids"] = list(triplet.prompt["token_ids"])
        if triplet.response["token_ids"]:
            attributes["response_token_ids"] = list(triplet.response["token_ids"])
        if "logprobs" in triplet.response:
            attributes["logprobs.content"] = json.dumps(triplet.response["logprobs"])
        start = 10.0 * (i + 1)
        out.append(
            Span.from_attributes(
                attributes=attributes,
                name="openai.chat.completion",
                span_id=f"{2 * i + 1:016x}",
                parent_id=root.span_id,
                sequence_id=2 * i + 1,
                start_time=start,
                end_time=start + 5,
                **common,
            )
        )
        if triplet.reward is not None:
            reward = {
                "agentlightning.reward.0.name": "primary",
                "agentlightning.reward.0.value": triplet.reward,
            }
            out.append(
                Span.from_attributes(
                    attributes=reward,
                    name="agentlightning.annotation",
                    span_id=f"{2 * i + 2:016x}",
                    parent_id=root.span_id,
                    sequence_id=2 * i + 2,
                    start_time=start + 6,
                    end_time=start + 7,
                    **common,
                )
            )
    return out


def cross_check(rollout_id: str, triplets: list[Triplet]) -> None:
    adapted = TracerTraceToTriplet().adapt(spans(rollout_id, triplets))
    if len(adapted) != len(triplets):
        raise Rejected(
            f"rollout {rollout_id}: the adapter finds {len(adapted)} calls, the file has {len(triplets)}"
        )
    for n, (mine, theirs) in enumerate(zip(triplets, adapted, strict=True)):
        where = f"rollout {rollout_id}, triplet {n}"
        for side in ("prompt", "response"):
            if list(getattr(mine, side)["token_ids"]) != list(getattr(theirs, side)["token_ids"]):
                raise Rejected(f"{where}: {side} token ids differ from the adapter's")
            if _strip(getattr(mine, side)["raw_content"]) != _strip(getattr(theirs, side)["raw_content"]):
                raise Rejected(f"{where}: {side} messages differ from the adapter's")
        if mine.prompt.get("image_urls", []) != theirs.prompt["image_urls"]:
            raise Rejected(f"{where}: image urls differ from the adapter's")
        if mine.reward != theirs.reward:
            raise Rejected(f"{where}: reward {mine.reward} but the adapter assigns {theirs.reward}")
        if mine.response.get("logprobs") != theirs.response.get("logprobs"):
            raise Rejected(f"{where}: logprobs differ from the adapter's")
    conversations = TraceToMessages().adapt(spans(rollout_id, triplets))
    if len(conversations) != len(triplets):
        raise Rejected(f"rollout {rollout_id}: TraceToMessages rebuilt {len(conversations)} conversations")


def validate(level: str, path: Path) -> dict[str, Any]:
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    rollouts: dict[str, list[Triplet]] = defaultdict(list)
    try:
        for line in lines:
            if level == "turn":
                triplet = Triplet.model_validate(line)
                rollouts[triplet.metadata["rollout_id"]].append(triplet)
            else:
                rollout = RolloutLegacy.model_validate(line)
                if not rollout.triplets:
                    raise Rejected(f"rollout {rollout.rollout_id}: no triplets")
                rollouts[rollout.rollout_id].extend(rollout.triplets)
    except pydantic.ValidationError as exc:
        raise Rejected(str(exc)) from None
    for rollout_id, triplets in rollouts.items():
        try:
            cross_check(rollout_id, triplets)
        except (KeyError, TypeError, ValueError, pydantic.ValidationError) as exc:
            if isinstance(exc, Rejected):
                raise
            raise Rejected(f"rollout {rollout_id}: the adapter fails: {type(exc).__name__}: {exc}") from None
    return {"lines": len(lines), "rollouts": {k: len(v) for k, v in rollouts.items()}}


def main(argv: list[str]) -> int:
    try:
        print(json.dumps(validate(argv[0], Path(argv[1]))))
    except Rejected as exc:
        print(f"rejected: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
