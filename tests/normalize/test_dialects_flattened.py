"""Flattened dialects -> canonical GenAI content: OpenLLMetry's ``gen_ai.prompt.N.*`` and
OpenInference's ``llm.input_messages.N.*``, from real recorded spans of one call of the same tool
loop. The reference is what current OpenLLMetry (0.62) itself sends for that call as GenAI 1.37
message JSON: every dialect must give the same canonical messages."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.normalize.dialect_samples import (
    contents,
    normalize_attributes,
    normalize_sample,
    same_ids,
    sample,
    tool_result,
)

LEGACY = "traceloop-openai-0.47.5-legacy"
OPENINFERENCE = "openinference-openai-0.1.66"
CURRENT = "traceloop-openai-0.62.4"


def _reference() -> dict[str, Any]:
    attributes = sample(CURRENT)["attributes"]
    return same_ids(
        {
            "input": json.loads(attributes["gen_ai.input.messages"]),
            "output": json.loads(attributes["gen_ai.output.messages"]),
            "tools": json.loads(attributes["gen_ai.tool.definitions"]),
        }
    )


def _content(row: dict[str, Any], batch: Any) -> dict[str, Any]:
    return same_ids(
        {
            "input": contents(batch, row["InputMessageHashes"]),
            "output": contents(batch, row["OutputMessageHashes"]),
            "tools": contents(batch, row["ToolDefinitionsHash"]),
        }
    )


@pytest.mark.parametrize("name", [LEGACY, OPENINFERENCE])
def test_flattened_messages_become_the_same_canonical_content(name: str) -> None:
    row, batch = normalize_sample(name)
    assert _content(row, batch) == _reference()
    # The flattened keys are not kept twice: the content is stored once, by hash.
    flattened = ("gen_ai.prompt.", "gen_ai.completion.", "llm.request.functions.", "llm.input_messages.")
    assert not [
        k for k in row["SpanAttributes"] if k.startswith((*flattened, "llm.output_messages.", "llm.tools."))
    ]
    assert "trajotel.normalize.error" not in row["SpanAttributes"]


def test_openllmetry_legacy_names_become_canonical() -> None:
    row, _ = normalize_sample(LEGACY)
    assert row["Dialect"] == "openllmetry"
    assert (row["Operation"], row["Provider"], row["RequestModel"]) == ("chat", "openai", "gpt-4o-mini")
    assert (row["InputTokens"], row["OutputTokens"], row["FinishReasons"]) == (106, 48, ["tool_calls"])
    assert row["ResponseId"] == sample(LEGACY)["attributes"]["gen_ai.response.id"]
    attributes = row["SpanAttributes"]
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == "0"
    assert attributes["gen_ai.usage.reasoning.output_tokens"] == "0"
    assert attributes["openai.response.system_fingerprint"] == "fp_fake"


def test_openinference_names_and_response_become_canonical() -> None:
    row, _ = normalize_sample(OPENINFERENCE)
    output = json.loads(sample(OPENINFERENCE)["attributes"]["output.value"])
    assert row["Dialect"] == "openinference"
    assert (row["Operation"], row["Provider"]) == ("chat", "openai")
    assert (row["RequestModel"], row["ResponseModel"], row["ResponseId"]) == (
        "gpt-4o-mini",
        "gpt-4o-mini",
        output["id"],
    )
    assert (row["InputTokens"], row["OutputTokens"], row["FinishReasons"]) == (106, 48, ["tool_calls"])
    # The request and response JSON only repeated the history: not kept.
    assert "input.value" not in row["SpanAttributes"] and "output.value" not in row["SpanAttributes"]
    assert row["SpanAttributes"]["gen_ai.usage.reasoning.output_tokens"] == "0"


def test_current_openllmetry_is_read_by_the_genai_tables() -> None:
    row, batch = normalize_sample(CURRENT)
    assert row["Dialect"] == "genai"
    assert _content(row, batch) == _reference()
    assert row["SpanAttributes"]["gen_ai.usage.reasoning.output_tokens"] == "0"


def test_more_than_ten_flattened_messages_keep_their_order() -> None:
    texts = [f"message {i}" for i in range(12)]
    attributes: dict[str, Any] = {"openinference.span.kind": "LLM"}
    for i, text in enumerate(texts):
        attributes[f"llm.input_messages.{i}.message.role"] = "user"
        attributes[f"llm.input_messages.{i}.message.content"] = text
        attributes[f"gen_ai.prompt.{i}.role"] = "user"  # the same list, OpenLLMetry's way
        attributes[f"gen_ai.prompt.{i}.content"] = text
    for dialect_keys in ("llm.input_messages", "gen_ai.prompt"):
        only = {
            k: v
            for k, v in attributes.items()
            if not k.startswith(("llm.input", "gen_ai.prompt")) or k.startswith(dialect_keys)
        }
        row, batch = normalize_attributes(only)
        assert [m["parts"][0]["content"] for m in contents(batch, row["InputMessageHashes"])] == texts


def test_multimodal_contents_and_names() -> None:
    row, batch = normalize_attributes(
        {
            "openinference.span.kind": "LLM",
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.name": "ana",
            "llm.input_messages.0.message.contents.0.message_content.type": "text",
            "llm.input_messages.0.message.contents.0.message_content.text": "What is this?",
            "llm.input_messages.0.message.contents.1.message_content.type": "image",
            "llm.input_messages.0.message.contents.1.message_content.image.image.url": "https://x/cat.png",
        }
    )
    assert contents(batch, row["InputMessageHashes"]) == [
        {
            "role": "user",
            "name": "ana",
            "parts": [
                {"type": "text", "content": "What is this?"},
                {"type": "uri", "modality": "image", "uri": "https://x/cat.png"},
            ],
        }
    ]


def test_tool_spans_become_execute_tool() -> None:
    openinference, openinference_batch = normalize_attributes(
        {
            "openinference.span.kind": "TOOL",
            "tool.name": "get_weather",
            "input.value": '{"city": "Paris"}',
            "output.value": "sunny",
        }
    )
    traceloop, traceloop_batch = normalize_attributes(
        {
            "traceloop.span.kind": "tool",
            "traceloop.entity.name": "get_weather",
            "traceloop.entity.input": '{"city": "Paris"}',
            "traceloop.entity.output": "sunny",
        }
    )
    for row, batch in ((openinference, openinference_batch), (traceloop, traceloop_batch)):
        assert (row["Operation"], row["ToolName"]) == ("execute_tool", "get_weather")
        assert row["SpanAttributes"]["gen_ai.tool.call.arguments"] == '{"city": "Paris"}'
        assert tool_result(row, batch) == "sunny"
    agent, _ = normalize_attributes({"traceloop.span.kind": "agent", "traceloop.entity.name": "planner"})
    assert (agent["Operation"], agent["AgentName"]) == ("invoke_agent", "planner")


def test_unreadable_flattened_content_stays_raw_with_the_reason() -> None:
    row, batch = normalize_sample(OPENINFERENCE, **{"llm.tools.0.tool.json_schema": "{not json"})
    error = row["SpanAttributes"]["trajotel.normalize.error"]
    assert "openinference" in error and "llm.tools.N.tool.json_schema is not JSON" in error
    # Nothing was taken: every flattened key is still there, no content was stored for the span.
    assert row["SpanAttributes"]["llm.tools.0.tool.json_schema"] == "{not json"
    assert "llm.input_messages.0.message.content" in row["SpanAttributes"]
    assert row["InputMessageHashes"] == [] and batch.contents == {}
