"""A dataset file checked the way TRL (and verl, NeMo-RL, OpenRLHF, LLaMA-Factory) reads it:
``datasets`` loads it, TRL's data utilities classify it and apply a real chat template, and the
tokenizer renders it with assistant masks, as SFTTrainer does. Runs in the ``hf`` consumer venv
(tests/export/formats/consumers.py): transformers, tokenizers, datasets and trl, without torch.

    python hf_datasets.py KIND FILE TEMPLATE [TEMPLATE ...] [--expect RECORDS.jsonl]

KIND: sft | dpo | kto | grpo | verl-rl | sharegpt. FILE: .jsonl or .parquet.
TEMPLATE: a chat template shipped in the trl wheel (trl/chat_templates/NAME.jinja), e.g.
qwen3_training (arguments as string or object, reasoning, {% generation %} markers) or
qwen3_6_training (arguments must be objects). Offline: the tokenizer is a byte-level model built
in memory, so no hub download happens.

Checks, per row and template:
* the rows ``datasets`` loads equal the file's (Arrow did not merge differing objects into
  one struct with null-filled fields);
* with ``--expect`` (a Parquet file's records as the format made them, one JSON object a line):
  the rows ``datasets`` loads equal them exactly, nulls included, except the keys a message
  lacked, which the fixed message struct gives back as null (a null anywhere else, e.g. a
  tool-call argument of another call, is a rejection); the checks below then compare against
  these records (the loaded row, nulls and all, must render as the record does);
* ``trl.is_conversational`` holds and ``trl.apply_chat_template`` accepts the row's key set;
* the template renders every message: each message's text, each tool call's name and argument
  values, each tool result appear in the rendering; rendering the loaded row gives the same text
  as rendering the file's row;
* SFT: the tokenizer's assistant mask (``return_assistant_tokens_mask``, what
  ``assistant_only_loss`` uses) marks tokens, as SFTTrainer requires; prompt-completion rows
  tokenize with the prompt as a prefix of prompt + completion.

Prints a JSON summary; exits 1 with the reasons when the consumer rejects the file.
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import datasets
import trl
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

SPECIAL = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<think>",
    "</think>",
    "<tool_call>",
    "</tool_call>",
    "<tool_response>",
    "</tool_response>",
]


class Rejected(ValueError):
    pass


def tokenizer(template: str) -> PreTrainedTokenizerFast:
    """A byte-level tokenizer (one token per byte, the template's special tokens whole) with the
    named TRL template: enough for rendering and masks, nothing downloaded."""
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    model = models.BPE(vocab={c: i for i, c in enumerate(sorted(alphabet))}, merges=[])
    tok = Tokenizer(model)
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", extra_special_tokens=SPECIAL
    )
    fast.add_special_tokens({"additional_special_tokens": SPECIAL})
    fast.chat_template = (resources.files("trl") / "chat_templates" / f"{template}.jinja").read_text()
    return fast


def strip_nulls(value: Any) -> Any:
    """Rows as templates see them, minus keys that are null (Arrow adds the other rows' keys as
    null to every struct; templates treat a null key as absent)."""
    if isinstance(value, dict):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(v) for v in value]
    return value


def leaves(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in leaves(v)]
    if isinstance(value, list):
        return [x for v in value for x in leaves(v)]
    if value is None or isinstance(value, bool):
        return []
    return [str(value)]


def expected_texts(messages: list[dict[str, Any]]) -> list[str]:
    """What a faithful rendering must contain."""
    found = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str) and content:
            found.append(content)
        for call in message.get("tool_calls") or []:
            found.append(call["function"]["name"])
            arguments = call["function"]["arguments"]
            if isinstance(arguments, str):
                # Non-JSON arguments (the model's own) are rendered as they are.
                with contextlib.suppress(ValueError):
                    arguments = json.loads(arguments)
            found.extend(leaves(arguments))
    return found


def message_lists(row: dict[str, Any]) -> list[list[dict[str, Any]]]:
    return [row[k] for k in ("messages", "prompt", "completion", "chosen", "rejected") if k in row]


def tools_of(row: dict[str, Any]) -> list[dict[str, Any]] | None:
    tools = row.get("tools")
    return json.loads(tools) if isinstance(tools, str) else tools


def check_row(row: dict[str, Any], raw: dict[str, Any], tok: PreTrainedTokenizerFast, kind: str) -> dict:
    if not trl.is_conversational(row):
        raise Rejected("trl.is_conversational says no")
    tools = tools_of(row)
    kwargs = row.get("chat_template_kwargs") or {}
    try:
        rendered = trl.apply_chat_template(row, tok, tools=tools, **kwargs)
        rendered_raw = trl.apply_chat_template(raw, tok, tools=tools_of(raw), **kwargs)
    except Exception as exc:
        raise Rejected(f"trl.apply_chat_template: {type(exc).__name__}: {exc}") from None
    if rendered != rendered_raw:
        raise Rejected("the loaded row renders differently from the file's row")
    text = "".join(v for v in rendered.values() if isinstance(v, str))
    for messages in message_lists(raw):
        expected = expected_texts(messages)
        last = messages[-1] if messages else {}
        if last.get("role") == "assistant" and last.get("reasoning_content"):
            expected.append(last["reasoning_content"])  # templates keep the latest reasoning
        for item in expected:
            if item not in text:
                raise Rejected(f"the template dropped {item[:60]!r}")
    stats: dict[str, Any] = {}
    if kind == "sft" and "messages" in row:
        out = tok.apply_chat_template(
            row["messages"],
            tools=tools,
            tokenize=True,
            return_dict=True,
            return_assistant_tokens_mask=True,
            **kwargs,
        )
        if 1 not in out["assistant_masks"]:
            raise Rejected(
                "no assistant tokens in the mask: SFTTrainer's assistant_only_loss rejects the row"
            )
        stats["assistant_tokens"] = sum(out["assistant_masks"])
    if kind == "sft" and "completion" in row:
        prompt_ids = tok.apply_chat_template(
            row["prompt"], tools=tools, tokenize=True, add_generation_prompt=True, return_dict=True, **kwargs
        )["input_ids"]
        full_ids = tok.apply_chat_template(
            row["prompt"] + row["completion"], tools=tools, tokenize=True, return_dict=True, **kwargs
        )["input_ids"]
        if full_ids[: len(prompt_ids)] != prompt_ids:
            raise Rejected("the tokenized prompt is not a prefix of prompt + completion")
        stats["completion_tokens"] = len(full_ids) - len(prompt_ids)
    return stats


VERL_AGENTS = ("single_turn_agent", "tool_agent")


def verl_rl(row: dict[str, Any], where: str) -> None:
    """What verl's RLHFDataset and reward manager read from a row: ``prompt`` (chat messages with
    text content), ``data_source``, ``reward_model.ground_truth``, ``extra_info`` (a dict), and
    ``agent_name`` naming one of its agent loops."""
    if not isinstance(row.get("data_source"), str) or not row["data_source"]:
        raise Rejected(f"{where}: data_source must be a non-empty string")
    prompt = row.get("prompt")
    if not prompt or not all(
        isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in prompt
    ):
        raise Rejected(f"{where}: prompt must be messages with text content")
    reward_model = row.get("reward_model") or {}
    if reward_model.get("style") != "rule" or "ground_truth" not in reward_model:
        raise Rejected(f"{where}: reward_model needs style 'rule' and a ground_truth")
    if not isinstance(row.get("extra_info"), dict):
        raise Rejected(f"{where}: extra_info must be a dict")
    if row.get("agent_name") not in VERL_AGENTS:
        raise Rejected(f"{where}: agent_name {row.get('agent_name')!r} is none of verl's {VERL_AGENTS}")


ODD, EVEN = ("human", "observation"), ("gpt", "function_call")


def _thought(value: str) -> tuple[str | None, str]:
    if value.startswith("<think>") and "</think>" in value:
        thought, rest = value[len("<think>") :].split("</think>", 1)
        return thought.strip(), rest.strip()
    return None, value


def sharegpt(row: dict[str, Any]) -> dict[str, Any]:
    """LLaMA-Factory's reading of a ShareGPT row (its SharegptDatasetConverter rules: alternating
    tags, the model's message last; function_call values are JSON calls, tools a JSON list of
    functions), as chat messages for the template check."""
    turns = row["conversations"]
    if not turns or len(turns) % 2:
        raise Rejected("a ShareGPT conversation has an even number of messages, the model's last")
    messages: list[dict[str, Any]] = (
        [{"role": "system", "content": row["system"]}] if row.get("system") else []
    )
    calls = 0
    for i, turn in enumerate(turns):
        kind, value = turn["from"], turn["value"]
        if kind not in (ODD, EVEN)[i % 2]:
            raise Rejected(f"message {i}: {kind!r} where LLaMA-Factory expects one of {(ODD, EVEN)[i % 2]}")
        if kind == "human":
            messages.append({"role": "user", "content": value})
        elif kind == "observation":
            results = json.loads(value) if calls > 1 else [value]
            if len(results) != calls:
                raise Rejected(f"message {i}: {len(results)} results for {calls} calls")
            messages.extend({"role": "tool", "content": r} for r in results)
        else:
            thought, value = _thought(value)
            message: dict[str, Any] = {
                "role": "assistant",
                "content": "" if kind == "function_call" else value,
            }
            if thought:
                message["reasoning_content"] = thought
            if kind == "function_call":
                parsed = json.loads(value)
                parsed = parsed if isinstance(parsed, list) else [parsed]
                if not all(
                    isinstance(c.get("name"), str) and isinstance(c.get("arguments"), dict) for c in parsed
                ):
                    raise Rejected(f"message {i}: a call needs a name and object arguments")
                message["tool_calls"] = [{"type": "function", "function": c} for c in parsed]
                calls = len(parsed)
            messages.append(message)
    tools = json.loads(row["tools"]) if row.get("tools") else []
    if not all(isinstance(t.get("name"), str) for t in tools):
        raise Rejected("tools must be a JSON list of functions with names")
    return {"messages": messages, "tools": json.dumps([{"type": "function", "function": t} for t in tools])}


def load(path: Path, cache: str) -> datasets.Dataset:
    builder = "parquet" if path.suffix == ".parquet" else "json"
    return datasets.load_dataset(builder, data_files=str(path), split="train", cache_dir=cache)


def raw_rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def message_nulls_only(row: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """``row`` without the message keys that are null in it and absent from ``record`` (what a
    fixed message struct adds); everything else as it is, nested nulls included."""
    out = dict(row)
    for key in ("messages", "prompt", "completion", "chosen", "rejected"):
        if isinstance(row.get(key), list) and isinstance(record.get(key), list):
            out[key] = [
                {k: v for k, v in m.items() if v is not None or k in want} if isinstance(m, dict) else m
                for m, want in zip(row[key], record[key] + [{}] * len(row[key]), strict=False)
            ]
    return out


def validate(kind: str, path: Path, templates: list[str], expect: Path | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as cache:
        dataset = load(path, cache)
        rows = [dict(r) for r in dataset]
    raws = raw_rows(path)
    if len(rows) != len(raws):
        raise Rejected(f"datasets loaded {len(rows)} rows, the file has {len(raws)}")
    for n, (row, raw) in enumerate(zip(rows, raws, strict=True), 1):
        if strip_nulls(row) != strip_nulls(raw):
            raise Rejected(f"row {n}: datasets loaded {strip_nulls(row)} for {strip_nulls(raw)}")
    if expect is not None:
        raws = raw_rows(expect)
        if len(rows) != len(raws):
            raise Rejected(f"datasets loaded {len(rows)} rows, {len(raws)} records were written")
        for n, (row, raw) in enumerate(zip(rows, raws, strict=True), 1):
            if message_nulls_only(row, raw) != raw:
                raise Rejected(
                    f"row {n}: datasets loaded {message_nulls_only(row, raw)} for the record {raw}"
                )
    if kind == "verl-rl":
        for n, raw in enumerate(raws, 1):
            verl_rl(raw, f"row {n}")
    if kind == "sharegpt":
        try:
            rows, raws = [sharegpt(r) for r in rows], [sharegpt(r) for r in raws]
        except (Rejected, ValueError, KeyError, TypeError) as exc:
            raise Rejected(f"ShareGPT: {type(exc).__name__}: {exc}") from None
        kind = "sft"
    summary: dict[str, Any] = {"rows": len(rows), "features": str(dataset.features), "templates": {}}
    for template in templates:
        tok = tokenizer(template)
        totals: dict[str, int] = {}
        for n, (row, raw) in enumerate(zip(rows, raws, strict=True), 1):
            try:
                stats = check_row(row, raw, tok, kind)
            except Rejected as exc:
                raise Rejected(f"row {n}, template {template}: {exc}") from None
            for key, value in stats.items():
                totals[key] = totals.get(key, 0) + value
        summary["templates"][template] = totals
    return summary


def main(argv: list[str]) -> int:
    expect = None
    if "--expect" in argv:
        at = argv.index("--expect")
        expect = Path(argv[at + 1])
        argv = argv[:at] + argv[at + 2 :]
    kind, path, *templates = argv
    try:
        print(json.dumps(validate(kind, Path(path), templates, expect)))
    except Rejected as exc:
        print(f"rejected: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
