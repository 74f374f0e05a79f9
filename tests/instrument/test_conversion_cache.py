"""The per-call caches of the openai chat path: reused while unchanged, never stale."""

from __future__ import annotations

import copy
import json
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from trajotel import semconv as sc
from trajotel.instrument import genai
from trajotel.instrument.openai import provider, wrappers
from trajotel.instrument.openai.chat import API


def _tools() -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather in a city.",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]


def _messages() -> list[Any]:
    return [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ]


def _counting_cache(max_entries: int = 256) -> tuple[genai.ConversionCache, list[Any]]:
    seen: list[Any] = []

    def convert(obj: Any) -> list[Any]:
        seen.append(obj)
        return [json.dumps(obj)]

    return genai.ConversionCache(convert, max_entries=max_entries), seen


def test_an_unchanged_object_is_converted_twice_then_reused():
    cache, seen = _counting_cache()
    obj = {"a": [1, {"b": "c"}]}
    results = [cache(obj) for _ in range(5)]
    assert len(seen) == 2  # first sighting, then the call that takes the snapshot
    assert results[2] is results[3] is results[4] is results[1]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda obj: obj.__setitem__("a", "x"),
        lambda obj: obj["nested"]["list"].append(3),
        lambda obj: obj["nested"]["list"].__setitem__(0, 9),
        lambda obj: obj["nested"].pop("list"),
        lambda obj: obj.__setitem__("new", None),
    ],
)
def test_a_change_at_any_depth_is_converted_again(mutate):
    cache, seen = _counting_cache()
    obj = {"a": "text", "nested": {"list": [1, 2]}}
    for _ in range(3):
        cache(obj)
    assert len(seen) == 2
    mutate(obj)
    assert cache(obj) == [json.dumps(obj)]
    assert len(seen) == 3
    assert cache(obj) == [json.dumps(obj)]  # the new state is cached in turn
    assert len(seen) == 3


def test_objects_that_cannot_be_copied_or_compared_are_converted_every_time():
    class NoCopy:
        def __deepcopy__(self, memo: Any) -> Any:
            raise TypeError("no")

    class BadEq:
        def __eq__(self, other: object) -> bool:
            raise ValueError("ambiguous")

        __hash__ = object.__hash__

    for obj in ({"x": NoCopy()}, [BadEq()]):
        seen: list[Any] = []
        cache = genai.ConversionCache(lambda o, seen=seen: seen.append(o) or len(seen))
        assert [cache(obj) for _ in range(4)] == [1, 2, 3, 4]


def test_the_cache_starts_over_when_full():
    cache, _seen = _counting_cache(max_entries=3)
    objects = [{"i": i} for i in range(5)]
    for obj in objects:
        cache(obj)
    assert len(cache._entries) <= 3
    for obj in objects:  # whatever was dropped is converted again, correctly
        assert cache(obj) == [json.dumps(obj)]


def test_cached_messages_and_tools_equal_the_uncached_conversion_and_json():
    messages, tools = _messages(), _tools()
    for _ in range(3):
        cached_messages = genai.cached_input_messages(messages)
        cached_tools = genai.cached_tool_definitions(tools)
        assert cached_messages == genai.input_messages(messages)
        assert cached_tools == genai.tool_definitions(tools)
        assert genai.to_json(cached_messages) == genai.to_json(genai.input_messages(messages))
        assert genai.to_json(cached_tools) == genai.to_json(genai.tool_definitions(tools))
    assert genai.to_json(genai.cached_input_messages([])) == "[]"


def test_long_or_non_text_content_is_never_kept_alive():
    genai._message_cache.clear()
    long_text = "x" * (genai.MAX_CACHED_CONTENT_CHARS + 1)
    short = {"role": "user", "content": "hi"}
    long = {"role": "tool", "tool_call_id": "c1", "content": long_text}
    image = {
        "role": "user",
        "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}],
    }
    for _ in range(3):
        assert genai.cached_input_messages([short, long, image]) == genai.input_messages([short, long, image])
    kept = {id(entry[0]) for entry in genai._message_cache._entries.values()}
    assert kept == {id(short)}


def test_a_message_or_tool_changed_in_place_is_never_served_stale():
    messages, tools = _messages(), _tools()
    for _ in range(3):
        genai.to_json(genai.cached_input_messages(messages))
        genai.to_json(genai.cached_tool_definitions(tools))
    messages[0]["content"] = "Be verbose."
    messages[1]["content"][0]["text"] = "Weather in Rome?"
    messages[2]["tool_calls"][0]["function"]["arguments"] = '{"city": "Rome"}'
    messages.append({"role": "user", "content": "and tomorrow?"})
    tools[0]["function"]["parameters"]["properties"]["day"] = {"type": "string"}
    tools[0]["function"]["description"] = "Weather."
    expected_messages = genai.to_json(genai.input_messages(messages))
    expected_tools = genai.to_json(genai.tool_definitions(tools))
    assert genai.to_json(genai.cached_input_messages(messages)) == expected_messages
    assert genai.to_json(genai.cached_tool_definitions(tools)) == expected_tools
    assert "Rome" in expected_messages and '"day"' in expected_tools


def test_the_content_of_an_instrumented_call_follows_changes_in_place(
    instrumented, client: openai.OpenAI, span_exporter: InMemorySpanExporter
):
    messages, tools = _messages()[:2], _tools()

    def recorded() -> tuple[Any, Any]:
        client.chat.completions.create(model="fake-chat", messages=messages, tools=tools)
        span = span_exporter.get_finished_spans()[-1]
        return (
            json.loads(span.attributes[sc.GEN_AI_INPUT_MESSAGES]),
            json.loads(span.attributes[sc.GEN_AI_TOOL_DEFINITIONS]),
        )

    for _ in range(3):
        first = recorded()
    assert first == (genai.input_messages(messages), genai.tool_definitions(tools))
    before = copy.deepcopy(first)
    messages[1]["content"][0]["text"] = "Weather in Rome?"
    tools[0]["function"]["parameters"]["required"] = ["city"]
    after = recorded()
    assert after != before
    assert after == (genai.input_messages(messages), genai.tool_definitions(tools))


def test_client_attributes_follow_the_base_url_and_the_client_class():
    client = openai.OpenAI(base_url="https://api.deepseek.com/v1", api_key="k")
    azure = openai.AzureOpenAI(azure_endpoint="https://x.example.com", api_key="k", api_version="2024-06-01")
    first = provider.client_attributes(client.chat.completions)
    assert first == {
        sc.GEN_AI_PROVIDER_NAME: "deepseek",
        sc.SERVER_ADDRESS: "api.deepseek.com",
        sc.SERVER_PORT: 443,
    }
    assert provider.client_attributes(client.chat.completions) is first  # cached
    client.base_url = "http://localhost:8000/v1"
    assert provider.client_attributes(client.chat.completions) == {
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.SERVER_ADDRESS: "localhost",
        sc.SERVER_PORT: 8000,
    }
    assert provider.client_attributes(azure.chat.completions)[sc.GEN_AI_PROVIDER_NAME] == "azure.ai.openai"
    base = wrappers._base_attributes(API, client.chat.completions, {"model": "m"})
    assert base[sc.GEN_AI_REQUEST_MODEL] == "m" and base[sc.SERVER_PORT] == 8000
