"""few_shot_context against a real collector: the budget holds for every budget, every example
shown is complete, long results are cut visibly, and examples that do not fit are left out."""

from __future__ import annotations

import re

import pytest

import trajotel
from trajotel.enrich.fewshot import HEADER, MESSAGE_OVERHEAD_TOKENS, estimate_tokens, few_shot_context
from trajotel.enrich.learn import get_successful_examples
from trajotel.errors import InvalidInputError, TrajotelError

TASK = "Refund order 9001 for a broken kettle"
_BLOCK = re.compile(r"^### Example (\d+)(?: \(score (\d\.\d\d)\))?$", re.MULTILINE)


def blocks(text: str) -> list[tuple[int, str]]:
    """(number, body) of each example block of a "text" context."""
    heads = list(_BLOCK.finditer(text))
    ends = [h.start() for h in heads[1:]] + [len(text)] if heads else []
    return [(int(h.group(1)), text[h.end() : end].strip()) for h, end in zip(heads, ends, strict=True)]


def assert_complete(body: str, example: dict) -> None:
    """The block shows the example whole: its task, each step in order, its final answer."""
    lines = body.splitlines()
    assert lines[0] == f"Task: {example['task']}"
    assert lines[1] == "Steps:"
    steps = lines[2 : 2 + len(example["steps"])]
    assert [line.split(". ", 1)[0] for line in steps] == [str(i + 1) for i in range(len(example["steps"]))]
    for line, step in zip(steps, example["steps"], strict=True):
        assert line.split(". ", 1)[1].startswith(f"{step['tool']}(") and line.endswith(step["result"])
    assert lines[2 + len(example["steps"]) :] == [f"Final answer: {example['final_answer']}"]


@pytest.fixture(scope="module")
def examples(client: trajotel.Client) -> dict[str, dict]:
    return {e["id"]: e for e in get_successful_examples(TASK, k=3, client=client)}


def test_every_budget_holds_and_every_example_shown_is_whole(
    client: trajotel.Client, examples: dict[str, dict]
) -> None:
    everything = few_shot_context(TASK, k=3, token_budget=100_000, client=client)
    assert everything.example_ids == list(examples) and everything.dropped_ids == []
    full = everything.tokens
    assert full == estimate_tokens(everything.text) and everything.text.startswith(HEADER)
    first_only = estimate_tokens(
        everything.text[: everything.text.index("### Example 2")].rstrip()
    )  # header + the first example
    seen = set()
    for budget in (0, 10, first_only - 1, first_only, first_only + 40, full - 1, full, 2000):
        context = few_shot_context(TASK, k=3, token_budget=budget, client=client)
        assert context.tokens == (estimate_tokens(context.text) if context.text else 0) <= budget
        assert context.token_budget == budget
        # Most similar first; what did not fit is left out whole, never cut.
        assert sorted(context.example_ids + context.dropped_ids) == sorted(examples)
        assert context.example_ids == [i for i in everything.example_ids if i in context.example_ids]
        found = blocks(context.text)
        assert [number for number, _ in found] == list(range(1, len(context.example_ids) + 1))
        for (_, body), trajectory_id in zip(found, context.example_ids, strict=True):
            assert_complete(body, examples[trajectory_id])
        seen.add(len(context.example_ids))
    assert seen == {0, 1, 2, 3}
    # The first example does not fit: it is left out, and a shorter one after it may take its place.
    squeezed = few_shot_context(TASK, token_budget=first_only - 1, client=client)
    assert squeezed.dropped_ids[0] == "refund-kettle" and squeezed.example_ids in ([], ["refund-mug"])


def test_long_results_are_cut_with_a_visible_marker(client: trajotel.Client, examples: dict) -> None:
    context = few_shot_context(TASK, k=3, token_budget=2000, client=client)
    assert "refund-blender" in context.example_ids
    [history_line] = [line for line in context.text.splitlines() if '({"order_id": 3310}) ->' in line]
    assert re.search(r"\[\.\.\. \d+ more characters\]$", history_line)
    assert history_line.endswith(examples["refund-blender"]["steps"][0]["result"])


def test_messages_are_user_and_assistant_pairs_within_the_budget(
    client: trajotel.Client, examples: dict[str, dict]
) -> None:
    for budget in (0, 100, 250, 2000):
        context = few_shot_context(TASK, token_budget=budget, format="messages", client=client)
        messages = context.messages
        assert context.text == "" and len(messages) == 2 * len(context.example_ids)
        cost = sum(MESSAGE_OVERHEAD_TOKENS + estimate_tokens(m["content"]) for m in messages)
        assert context.tokens == cost <= budget
        for (user, assistant), trajectory_id in zip(
            zip(messages[::2], messages[1::2], strict=True), context.example_ids, strict=True
        ):
            example = examples[trajectory_id]
            assert user == {"role": "user", "content": example["task"]}
            assert assistant["role"] == "assistant"
            assert_complete(f"Task: {example['task']}\n{assistant['content']}", example)
    assert len(few_shot_context(TASK, token_budget=2000, format="messages", client=client).messages) == 6


def test_a_tokenizer_of_ones_own_counts_instead(client: trajotel.Client) -> None:
    words = lambda text: len(text.split())  # noqa: E731 (a stand-in tokenizer)
    context = few_shot_context(TASK, token_budget=60, count_tokens=words, client=client)
    assert 0 < context.tokens == words(context.text) <= 60
    assert len(context.example_ids) == 1


def test_nothing_similar_gives_an_empty_context_and_bad_input_is_refused(
    client: trajotel.Client, unreachable: trajotel.Client
) -> None:
    empty = few_shot_context("quantum chromodynamics", client=client)
    assert (empty.text, empty.messages, empty.tokens, empty.example_ids) == ("", [], 0, [])
    with pytest.raises(InvalidInputError, match="format must be one of text, messages"):
        few_shot_context(TASK, format="markdown", client=client)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="token_budget must be a non-negative integer"):
        few_shot_context(TASK, token_budget=-1, client=client)
    with pytest.raises(TrajotelError, match="cannot reach the trajotel collector"):
        few_shot_context(TASK, client=unreachable)
