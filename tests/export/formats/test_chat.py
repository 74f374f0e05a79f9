"""The conversion every format shares (trajotel.export.chat, trajotel.export.shaping): messages to
chat messages, conversations and their trainable messages, prompts, rewards, preference pairs."""

from __future__ import annotations

import copy

import pytest

from trajotel.assemble.model import Message, Part, Trajectory
from trajotel.export import chat, shaping
from trajotel.export.format import ExportOptions

from tests.export.formats import samples
from tests.export.formats.samples import assistant, call, message, text, thinking

OPENAI = chat.ChatStyle(weights=True, names=True)
HF = chat.hf_style(ExportOptions())


def test_calls_without_ids_get_ids_and_results_pair_in_order() -> None:
    messages = [
        message("user", text("two lookups")),
        assistant(call(None, "a", {}), call(None, "b", {"x": 1})),
        Message(role="tool", parts=[Part(type="tool_call_response", response="ra")]),
        Message(role="tool", parts=[Part(type="tool_call_response", response={"rb": True})]),
    ]
    out = chat.chat_messages(messages, HF)
    assert [c["id"] for c in out[1]["tool_calls"]] == ["call_1", "call_2"]
    assert out[1]["tool_calls"][1]["function"]["arguments"] == {"x": 1}
    assert out[2] == {"role": "tool", "tool_call_id": "call_1", "content": "ra", "name": "a"}
    assert out[3] == {"role": "tool", "tool_call_id": "call_2", "content": '{"rb":true}', "name": "b"}
    assert out[1]["content"] == ""  # HF templates get a string; OpenAI None
    assert chat.chat_messages(messages, OPENAI)[1]["content"] is None


def test_results_in_user_messages_become_tool_messages_first() -> None:
    messages = [
        assistant(call("t1", "a", {})),
        Message(role="user", parts=[Part(type="tool_call_response", id="t1", response="ok"), text("go on")]),
        Message(role="tool", parts=[text("plain result")]),  # a result recorded as text
    ]
    out = chat.chat_messages(messages, OPENAI)
    assert [m["role"] for m in out] == ["assistant", "tool", "user", "tool"]
    assert out[3]["content"] == "plain result"


def test_roles_and_arguments_the_consumer_cannot_take() -> None:
    assert chat.chat_messages([Message(role="model", parts=[text("hi")])], OPENAI)[0]["role"] == "assistant"
    with pytest.raises(chat.Unexpressible, match="role"):
        chat.chat_messages([Message(role="critic", parts=[text("no")])], OPENAI)
    assert chat.arguments('{"a": 1}', "object") == {"a": 1}
    assert chat.arguments(None, "object") == {} and chat.arguments(None, "string") == "{}"
    assert chat.arguments("a=1", "string") == "a=1"
    with pytest.raises(chat.Unexpressible):
        chat.arguments("a=1", "string", strict=True)
    with pytest.raises(chat.Unexpressible):
        chat.arguments("a=1", "object")
    with pytest.raises(chat.Unexpressible):
        chat.arguments([1, 2], "object")


def test_reasoning_and_media_follow_the_style() -> None:
    output = assistant(thinking("hmm"), text("answer"))
    image = message(
        "user", text("look"), Part(type="blob", modality="image", mime_type="image/jpeg", content="QUJD")
    )
    assert "reasoning_content" not in chat.chat_messages([output], OPENAI)[0]
    assert chat.chat_messages([output], HF)[0]["reasoning_content"] == "hmm"
    assert chat.chat_messages([image], OPENAI)[0]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/jpeg;base64,QUJD"},
    }
    assert chat.chat_messages([image], HF)[0]["content"] == "look"
    options = ExportOptions(reasoning="drop", tool_arguments="string")
    style = chat.hf_style(options)
    assert not style.reasoning and style.arguments == "string"


def test_tools_in_openai_form() -> None:
    nested = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    flat = {"type": "function", "name": "g", "description": "G."}
    assert chat.function_tool(nested) == nested
    assert chat.function_tool(flat) == {"type": "function", "function": {"name": "g", "description": "G."}}
    assert chat.function_tool({"type": "web_search_20250305", "name": "web_search"}) is None
    run = samples.openai_run()
    assert [t["function"]["name"] for t in chat.chat_tools(run)] == ["get_weather", "search"]
    assert chat.tools_json(Trajectory(id="none")) is None


def test_system_instructions() -> None:
    run = samples.openai_run()
    run.system_instructions = [text("Be brief.")]
    prompt = shaping.prompt(run, ExportOptions())
    assert chat.message_text(prompt[0]) == "Be brief.\n\nYou are a weather agent. Use the tools."
    run.system_instructions = [text("Use the tools.")]  # already in the input's system message
    assert (
        chat.message_text(shaping.prompt(run, ExportOptions())[0])
        == "You are a weather agent. Use the tools."
    )
    assert [m.role for m in shaping.prompt(run, ExportOptions(system_prompt=False))] == ["user"]
    anthropic = samples.anthropic_run()
    assert [m.role for m in shaping.prompt(anthropic, ExportOptions())] == ["system", "user"]


def test_conversations_and_what_is_trained() -> None:
    options = ExportOptions()
    (one,) = shaping.conversations(samples.openai_run(), options)
    assert [t.index for t in one.turns] == [0, 1, 2]
    assert [m.role for m, trained in zip(one.messages, one.trainable, strict=True) if trained] == [
        "assistant"
    ] * 3

    few = shaping.main_conversation(samples.few_shot_run(), options)
    assert few is not None
    assert few.trainable == [False, False, False, True, False, True]

    first, second = shaping.conversations(samples.reset_run(), options)
    assert [t.index for t in first.turns] == [0] and [t.index for t in second.turns] == [1]
    assert shaping.split_at_first_trained(second)[0][-1].parts[0].content.startswith("Summary")

    # Without the system prompt the flags still line up with the messages.
    dropped = shaping.main_conversation(samples.openai_run(), ExportOptions(system_prompt=False))
    assert dropped is not None and dropped.trainable[0] is False and len(dropped.trainable) == 7


def test_reasoning_stripped_from_the_history_comes_back_from_the_outputs() -> None:
    run = samples.openai_run()
    for turn in run.turns[1:]:  # the agent sent its history back without the reasoning
        turn.input_messages = [
            Message(role=m.role, parts=[p for p in m.parts if p.type != "reasoning"])
            for m in turn.input_messages
        ]
    conversation = shaping.main_conversation(run, ExportOptions())
    assert conversation is not None
    out = chat.chat_messages(conversation.messages, HF)
    assert [m.get("reasoning_content") for m in out if m["role"] == "assistant"] == [
        "Two cities: call the tool twice.",
        "Atlantis failed; search next.",
        "Done.",
    ]


def test_stored_trajectories_convert_the_same() -> None:
    """Trajectories read back from the store share their history's message objects."""
    for run in samples.all_runs():
        again = Trajectory.from_dict(run.to_dict())
        options = ExportOptions()
        assert [
            chat.chat_messages(c.messages, OPENAI, c.trainable) for c in shaping.conversations(again, options)
        ] == [
            chat.chat_messages(c.messages, OPENAI, c.trainable) for c in shaping.conversations(run, options)
        ]


def test_turn_examples_and_rewards() -> None:
    run = samples.openai_run()
    examples = shaping.examples(run, ExportOptions(level="turn"))
    assert len(examples) == 3 and all(
        e.trainable == [False] * (len(e.messages) - 1) + [True] for e in examples
    )
    assert (
        shaping.examples(samples.reset_run(), ExportOptions(level="turn"))[-1].end.index == 1
    )  # failed call left out
    assert shaping.turn_rewards(run, ExportOptions()) == [1.0, 1.0, 1.0]
    assert shaping.turn_rewards(run, ExportOptions(credit="tool_status")) == pytest.approx([0.0, 0.1, 1.0])
    run.turns[0].reward = -1.0  # recorded per-turn rewards win
    assert shaping.turn_rewards(run, ExportOptions())[0] == -1.0
    assert shaping.turn_rewards(samples.raw_arguments_run(), ExportOptions()) == [None, None]


def test_preference_pairs() -> None:
    group = samples.weather_group()
    pairs = [(a.id, b.id) for a, b in shaping.preference_pairs(group)]
    assert pairs == [("g-best", "g-worst"), ("g-mid", "g-low")]
    best, worst = (shaping.main_conversation(t, ExportOptions()) for t in group[:2])
    assert best is not None and worst is not None
    prompt, chosen, rejected = shaping.split_pair(best.messages, worst.messages) or ((), (), ())
    assert [m.role for m in prompt] == ["system", "user"]
    assert len(chosen) == 6 and len(rejected) == 1
    twin = copy.deepcopy(group[0])
    twin.id, twin.reward = "twin", 0.0
    same = shaping.main_conversation(twin, ExportOptions())
    assert same is not None and shaping.split_pair(best.messages, same.messages) is None
