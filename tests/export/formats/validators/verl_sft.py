"""verl multi-turn SFT Parquet files, checked the way verl's ``MultiTurnSFTDataset`` reads and
tokenizes them (volcengine/verl: verl/utils/dataset/multiturn_sft_dataset.py, verl itself needs
torch):

* every file is read with ``pd.read_parquet``, the frames are ``pd.concat``-ed, ``messages`` and
  ``tools`` go through ``convert_nested_value_to_list_recursive`` (numpy arrays to lists),
  ``enable_thinking`` through ``tolist()`` (``read_as_verl``; imports only pandas and numpy, so
  the format tests use it in-process too);
* with ``--expect RECORDS.jsonl`` (the records the format made, in order), the rows must be
  those records: tools, tool calls and every value exactly (types and key order: what a
  template's ``tojson`` prints); a message may only gain keys it did not have as null (one
  struct type per column), which templates read as absent (``differences``);
* per template (a ``trl/chat_templates`` file, byte-level tokenizer built in memory, as
  hf_datasets.py): each message is tokenized alone, ``apply_chat_template([message],
  tools=tools if i == 0 else None, add_generation_prompt=False)``, the template's default system
  prompt cut from messages after the first, loss on assistant messages minus the generation
  prompt; verl's sanity check must hold (the concatenation equals rendering the whole
  conversation at once); every message's text, tool name, tool-call name and argument value and
  tool result must appear, and every assistant message's text and calls under the loss mask.

    python verl_sft.py [--expect RECORDS.jsonl] FILE [FILE ...] --templates TEMPLATE [...]

Prints a JSON summary; exits 1 with the reasons when a check fails.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any


class Rejected(ValueError):
    pass


# --- reading, as verl does ----------------------------------------------------------------------


def convert_nested_value_to_list_recursive(data_item: Any) -> Any:
    """verl's function (verl/utils/dataset/multiturn_sft_dataset.py)."""
    import numpy as np

    if isinstance(data_item, dict):
        return {k: convert_nested_value_to_list_recursive(v) for k, v in data_item.items()}
    if isinstance(data_item, list):
        return [convert_nested_value_to_list_recursive(elem) for elem in data_item]
    if isinstance(data_item, np.ndarray):
        return convert_nested_value_to_list_recursive(data_item.tolist())
    return data_item


def read_as_verl(paths: list[Path]) -> list[dict[str, Any]]:
    import pandas as pd

    frame = pd.concat([pd.read_parquet(p) for p in paths])
    messages = frame["messages"].apply(convert_nested_value_to_list_recursive).tolist()
    tools = (
        frame["tools"].apply(convert_nested_value_to_list_recursive).tolist() if "tools" in frame else None
    )
    thinking = frame["enable_thinking"].tolist() if "enable_thinking" in frame else None
    return [
        {
            "messages": messages[i],
            "tools": None if tools is None else tools[i],
            "enable_thinking": None if thinking is None else thinking[i],
        }
        for i in range(len(messages))
    ]


def _plain(value: Any) -> Any:
    """Numpy scalars as the Python values a template sees (transformers does the same)."""
    import numpy as np

    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _dumps(value: Any) -> str:
    return json.dumps(_plain(value), ensure_ascii=False)


def differences(rows: list[dict[str, Any]], records: list[dict[str, Any]]) -> list[str]:
    """Where what verl reads differs from what the format wrote (empty when it does not)."""
    found = []
    if len(rows) != len(records):
        return [f"verl reads {len(rows)} rows, {len(records)} were written"]
    for n, (row, record) in enumerate(zip(rows, records, strict=True), 1):
        if _dumps(row["tools"]) != _dumps(record["tools"]):
            found.append(f"row {n}: tools {_dumps(row['tools'])[:300]} for {_dumps(record['tools'])[:300]}")
        if len(row["messages"]) != len(record["messages"]):
            found.append(f"row {n}: {len(row['messages'])} messages for {len(record['messages'])}")
            continue
        for i, (got, wrote) in enumerate(zip(row["messages"], record["messages"], strict=True)):
            # Keys the message did not have come back as null (one struct type per column);
            # templates read a message's keys by name, so their order does not count.
            got = {k: v for k, v in got.items() if v is not None or k in wrote}
            if set(got) != set(wrote) or any(_dumps(got[k]) != _dumps(wrote[k]) for k in wrote):
                found.append(f"row {n} message {i}: {_dumps(got)[:300]} for {_dumps(wrote)[:300]}")
        if _dumps(row["enable_thinking"]) != _dumps(record["enable_thinking"]):
            found.append(f"row {n}: enable_thinking {row['enable_thinking']} for {record['enable_thinking']}")
    return found


# --- tokenizing, as verl does --------------------------------------------------------------------


def _ids(tok: Any, messages: list[dict[str, Any]], **kwargs: Any) -> list[int]:
    return list(tok.apply_chat_template(messages, tokenize=True, return_dict=True, **kwargs)["input_ids"])


def system_and_generation_prompt(tok: Any) -> tuple[list[int], list[int]]:
    """verl's ``extract_system_prompt_and_generation`` (verl/utils/chat_template.py)."""
    empty = {"role": "user", "content": ""}
    one = _ids(tok, [empty], add_generation_prompt=False)
    two = _ids(tok, [empty, empty], add_generation_prompt=False)
    system = one[: -(len(two) - len(one))]
    with_prompt = _ids(tok, [empty], add_generation_prompt=True)
    return system, with_prompt[len(one) :]


def verl_tokens(tok: Any, row: dict[str, Any]) -> tuple[list[int], list[int], list[int]]:
    """(per-message input ids, their loss mask, the whole conversation's ids), as
    ``MultiTurnSFTDataset.__getitem__`` and ``sanity_check`` make them."""
    system, generation = system_and_generation_prompt(tok)
    kwargs = {} if row["enable_thinking"] is None else {"enable_thinking": row["enable_thinking"]}
    ids: list[int] = []
    mask: list[int] = []
    for i, message in enumerate(row["messages"]):
        tools = row["tools"] if i == 0 else None
        part = _ids(tok, [message], tools=tools, add_generation_prompt=False, **kwargs)
        if i != 0 and message["role"] != "system":
            part = part[len(system) :]
        ids.extend(part)
        if message["role"] == "assistant":
            mask.extend([0] * len(generation) + [1] * (len(part) - len(generation)))
        else:
            mask.extend([0] * len(part))
    whole = _ids(tok, row["messages"], tools=row["tools"], add_generation_prompt=False, **kwargs)
    return ids, mask, whole


def _leaves(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _leaves(v)]
    if isinstance(value, list):
        return [x for v in value for x in _leaves(v)]
    if value is None or isinstance(value, bool):
        return []
    return [str(value)]


def _call_texts(message: dict[str, Any]) -> list[str]:
    found = []
    for call in message.get("tool_calls") or []:
        found.append(call["function"]["name"])
        arguments = call["function"]["arguments"]
        if isinstance(arguments, str):
            with contextlib.suppress(ValueError):  # arguments that are not JSON appear as they are
                arguments = json.loads(arguments)
        found.extend(_leaves(arguments) if not isinstance(arguments, str) else [arguments])
    return found


def check_row(tok: Any, row: dict[str, Any]) -> dict[str, int]:
    try:
        ids, mask, whole = verl_tokens(tok, row)
    except Exception as exc:
        raise Rejected(f"apply_chat_template: {type(exc).__name__}: {exc}") from None
    if ids != whole:
        at = next(
            (i for i, (a, b) in enumerate(zip(ids, whole, strict=False)) if a != b), min(len(ids), len(whole))
        )
        apart, together = tok.decode(ids[at : at + 40]), tok.decode(whole[at : at + 40])
        raise Rejected(
            "verl's sanity check fails: the messages tokenized one by one differ from the whole "
            f"conversation from token {at}: {apart!r} vs {together!r}"
        )
    text = tok.decode(ids)
    trained = tok.decode([t for t, m in zip(ids, mask, strict=True) if m])
    expected = [t["function"]["name"] for t in row["tools"] or []]
    for message in row["messages"]:
        for key in ("content", "reasoning_content"):
            if isinstance(message.get(key), str) and message[key]:
                expected.append(message[key])
        expected.extend(_call_texts(message))
        if message["role"] == "assistant":
            for item in [message.get("content") or "", *_call_texts(message)]:
                if item and item not in trained:
                    raise Rejected(f"{item[:60]!r} of an assistant message is not under the loss mask")
    for item in expected:
        if item not in text:
            raise Rejected(f"the template dropped {item[:60]!r}")
    return {"tokens": len(ids), "trained_tokens": sum(mask)}


def validate(paths: list[Path], templates: list[str], expect: Path | None) -> dict[str, Any]:
    rows = read_as_verl(paths)
    if expect is not None:
        records = [json.loads(line) for line in expect.read_text(encoding="utf-8").splitlines()]
        found = differences(rows, records)
        if found:
            raise Rejected("verl reads something else than was written: " + "; ".join(found[:5]))
    summary: dict[str, Any] = {"rows": len(rows), "files": len(paths), "templates": {}}
    for template in templates:
        from hf_datasets import tokenizer  # the hf consumer venv (transformers, trl)

        tok = tokenizer(template)
        totals: dict[str, int] = {}
        for n, row in enumerate(rows, 1):
            try:
                stats = check_row(tok, row)
            except Rejected as exc:
                raise Rejected(f"row {n}, template {template}: {exc}") from None
            for key, value in stats.items():
                totals[key] = totals.get(key, 0) + value
        summary["templates"][template] = totals
    return summary


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--expect", type=Path)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--templates", nargs="*", default=[])
    args = parser.parse_args(argv)
    try:
        print(json.dumps(validate(args.files, args.templates, args.expect)))
    except Rejected as exc:
        print(f"rejected: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
