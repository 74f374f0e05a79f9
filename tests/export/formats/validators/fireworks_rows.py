"""Fireworks dataset files checked with eval-protocol's own code (``eval-protocol`` venv).

    python fireworks_rows.py {rft|sft} FILE.jsonl

* ``eval_protocol.cli_commands.create_rft._validate_dataset_jsonl``, the check ``ep create rft``
  runs before it uploads a dataset, over every row;
* every row as ``EvaluationRow`` and every message with only the fields eval-protocol's
  ``Message`` declares (it would drop others silently);
* rft: the prompt ends with the user's message, ``ground_truth`` is set, and an evaluator
  written against it runs: it scores the row's reference answer and records an
  ``EvaluateResult`` on the row;
* sft: Fireworks' rules: ``system`` only first, ``weight`` 0/1 on assistant messages only,
  the last message the assistant's, tool results answering earlier calls.

Prints a JSON summary; exits 1 with the reasons when the consumer rejects the file.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path
from typing import Any

from eval_protocol.cli_commands.create_rft import _validate_dataset_jsonl
from eval_protocol.models import EvaluateResult, EvaluationRow, Message
from pydantic import ValidationError


class Rejected(ValueError):
    pass


def evaluate(row: EvaluationRow) -> EvaluateResult:
    """A string-match evaluator, as a user would write one against ``ground_truth``."""
    answer = row.messages[-1].content if row.messages and row.messages[-1].role == "assistant" else ""
    score = 1.0 if isinstance(answer, str) and str(row.ground_truth) in answer else 0.0
    return EvaluateResult(score=score, reason="ground truth found" if score else "ground truth missing")


def check_rft(row: EvaluationRow, where: str) -> None:
    if not row.messages or row.messages[-1].role != "user":
        raise Rejected(f"{where}: the prompt must end with the user's message")
    if row.ground_truth in (None, ""):
        raise Rejected(f"{where}: no ground_truth for the evaluator")
    if not row.input_metadata.row_id:
        raise Rejected(f"{where}: no input_metadata.row_id")
    rolled_out = row.model_copy(deep=True)
    rolled_out.messages.append(Message(role="assistant", content=f"Answer: {row.ground_truth}"))
    rolled_out.evaluation_result = evaluate(rolled_out)
    if rolled_out.evaluation_result.score != 1.0:
        raise Rejected(f"{where}: the evaluator cannot score against ground_truth")


def check_sft(row: EvaluationRow, where: str) -> None:
    calls: set[str] = set()
    for i, message in enumerate(row.messages):
        if message.role == "system" and i != 0:
            raise Rejected(f"{where}: a system message only comes first")
        if message.weight is not None and (message.role != "assistant" or message.weight not in (0, 1)):
            raise Rejected(f"{where}: weight 0/1 only on assistant messages")
        calls.update(c.id for c in message.tool_calls or [])
        if message.role == "tool" and message.tool_call_id not in calls:
            raise Rejected(f"{where}: tool result for an unknown call")
    if not row.messages or row.messages[-1].role != "assistant":
        raise Rejected(f"{where}: the last message must be the assistant's")


def validate(kind: str, path: Path) -> dict[str, Any]:
    lines = path.read_text(encoding="utf-8").splitlines()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        accepted = _validate_dataset_jsonl(str(path), sample_limit=len(lines))
    if not accepted:
        raise Rejected(f"ep create rft's dataset check: {printed.getvalue().strip()}")
    reasoning = 0
    for n, line in enumerate(lines, 1):
        data = json.loads(line)
        try:
            row = EvaluationRow.model_validate(data)
        except ValidationError as exc:
            raise Rejected(f"row {n}: {exc}") from None
        for message in data.get("messages", []):
            if unknown := set(message) - set(Message.model_fields):
                raise Rejected(
                    f"row {n}: message keys {sorted(unknown)} are not eval-protocol Message fields"
                )
        (check_rft if kind == "rft" else check_sft)(row, f"row {n}")
        reasoning += sum(1 for m in row.messages if m.reasoning_content)
    return {"rows": len(lines), "reasoning_messages": reasoning}


def main(argv: list[str]) -> int:
    try:
        print(json.dumps(validate(argv[0], Path(argv[1]))))
    except Rejected as exc:
        print(f"rejected: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
