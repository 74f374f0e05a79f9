"""Trajectories for the format tests, built from model objects: every feature the formats must
carry (multi-turn, parallel tool calls, tool errors, reasoning, system instructions apart from
the messages, tool definitions, images, token ids and logprobs, few-shot history, a context
reset, tool calls without ids, arguments that are not JSON, a failed last call)."""

from __future__ import annotations

from typing import Any

from trajotel.assemble.model import Message, Outcome, Part, ToolCall, Trajectory, Turn, Usage

T0 = 1_790_000_000_000_000_000

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Current weather of a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["C", "F"]}},
            "required": ["city"],
        },
    },
    {
        "type": "function",
        "name": "search",
        "description": "Search the web.",
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string"},
                "limit": {"type": "integer"},
                "filters": {"type": "object", "properties": {"site": {"type": "string"}}},
            },
            "required": ["query"],
        },
    },
    # A provider-side tool: no function form, left out of every tools list.
    {"type": "web_search_20250305", "name": "web_search"},
]


def text(content: str) -> Part:
    return Part(type="text", content=content)


def thinking(content: str) -> Part:
    return Part(type="reasoning", content=content)


def call(call_id: str | None, name: str, arguments: Any) -> Part:
    return Part(type="tool_call", id=call_id, name=name, arguments=arguments)


def message(role: str, *parts: Part) -> Message:
    return Message(role=role, parts=list(parts))


def assistant(*parts: Part) -> Message:
    calls = any(p.type == "tool_call" for p in parts)
    return Message(role="assistant", parts=list(parts), finish_reason="tool_call" if calls else "stop")


def run(
    trajectory_id: str,
    *,
    task: str,
    prompt: list[Message],
    outputs: list[Message | None],
    results: dict[str, tuple[Any, str]] | None = None,
    anthropic: bool = False,
    instructions: str | None = None,
    reward: float | None = None,
    outcome: str = "unknown",
    token_ids: bool = True,
    reset_after: int | None = None,
) -> Trajectory:
    """An agent run: each output's tool calls are answered from ``results`` (call id -> (result,
    status)) in the next call's input, as one ``tool`` message per call, or (``anthropic``) one
    user message holding every result. ``None`` in ``outputs`` is a failed call (no output);
    ``reset_after``: the call after that turn starts over from the prompt plus a summary."""
    results = results or {}
    history = list(prompt)
    turns: list[Turn] = []
    for index, output in enumerate(outputs):
        begin = T0 + index * 1_000_000
        calls: list[ToolCall] = []
        for part in output.parts if output else []:
            if part.type == "tool_call":
                result, status = results.get(part.id or part.name or "", ("done", "ok"))
                calls.append(
                    ToolCall(
                        id=part.id or "",
                        name=part.name or "",
                        arguments=part.arguments,
                        result=result,
                        status=status,
                        error_type="ToolError" if status == "error" else None,
                    )
                )
        turns.append(
            Turn(
                index=index,
                trace_id=f"{trajectory_id:0>32}"[-32:],
                span_id=f"{index + 1:016x}",
                provider="openai",
                request_model="qwen3-8b",
                response_id=f"resp-{trajectory_id}-{index}",
                start_time_unix_nano=begin,
                end_time_unix_nano=begin + 500_000,
                input_messages=list(history),
                output_messages=[output] if output else [],
                tool_calls=calls,
                finish_reasons=[output.finish_reason or "stop"] if output else [],
                usage=Usage(input_tokens=50 + 10 * index, output_tokens=12),
                error_type=None if output else "RateLimitError",
                prompt_token_ids=list(range(100, 110 + index)) if token_ids and output else [],
                output_token_ids=[7, 8, 9 + index] if token_ids and output else [],
                output_logprobs=[-0.1, -0.2, -0.3] if token_ids and output else [],
            )
        )
        if output is None:
            continue
        if reset_after == index:
            summary = message("user", text("Summary so far: it is 18C in Paris. Now finish the task."))
            history = [*prompt, summary]
            continue
        history.append(output)
        responses = [Part(type="tool_call_response", id=c.id or None, response=c.result) for c in calls]
        if anthropic and responses:
            history.append(Message(role="user", parts=[*responses, text("Results above.")]))
        else:
            history.extend(Message(role="tool", parts=[r]) for r in responses)
    return Trajectory(
        id=trajectory_id,
        task=task,
        agent_name="weather-agent",
        trace_ids=[turns[0].trace_id] if turns else [],
        start_time_unix_nano=T0,
        end_time_unix_nano=T0 + len(outputs) * 1_000_000,
        status="complete",
        outcome=Outcome(label=outcome, confidence=1.0, source="rule"),
        reward=reward,
        metadata={"split": "train", "ground_truth": "18C"},
        models=["qwen3-8b"],
        tools_used=sorted({c.name for t in turns for c in t.tool_calls}),
        system_instructions=[text(instructions)] if instructions else [],
        tool_definitions=TOOLS,
        turns=turns,
    )


WEATHER_TASK = "What is the weather in Paris and in Atlantis? Then search for a picnic spot."


def weather_prompt() -> list[Message]:
    return [
        message("system", text("You are a weather agent. Use the tools.")),
        message("user", text(WEATHER_TASK)),
    ]


def openai_run(
    trajectory_id: str = "run-openai", reward: float = 1.0, answer: str = "Paris: 18C."
) -> Trajectory:
    """OpenAI-style: system message in the input, parallel calls, one failing, reasoning, nested
    arguments, token ids."""
    return run(
        trajectory_id,
        task=WEATHER_TASK,
        prompt=weather_prompt(),
        outputs=[
            assistant(
                thinking("Two cities: call the tool twice."),
                text("Let me check both cities."),
                call("call_paris", "get_weather", {"city": "Paris", "unit": "C"}),
                call("call_atlantis", "get_weather", {"city": "Atlantis"}),
            ),
            assistant(
                thinking("Atlantis failed; search next."),
                call("call_search", "search", {"query": "picnic", "limit": 3, "filters": {"site": "fr"}}),
            ),
            assistant(thinking("Done."), text(f"{answer} Atlantis is unknown. Try Parc Monceau.")),
        ],
        results={
            "call_paris": ({"temp_c": 18, "sky": "cloudy"}, "ok"),
            "call_atlantis": ("error: unknown city 'Atlantis'", "error"),
            "call_search": ("Parc Monceau; Buttes-Chaumont", "ok"),
        },
        reward=reward,
        outcome="success" if reward >= 0.5 else "failure",
    )


def short_run(trajectory_id: str, reward: float | None, answer: str) -> Trajectory:
    """Same task, answered straight away (the other side of preference pairs)."""
    return run(
        trajectory_id,
        task=WEATHER_TASK,
        prompt=weather_prompt(),
        outputs=[assistant(thinking("No tools needed."), text(answer))],
        reward=reward,
        outcome="unknown" if reward is None else ("success" if reward >= 0.5 else "failure"),
    )


def anthropic_run() -> Trajectory:
    """Anthropic-style: system instructions apart, an image in the task, results in user messages."""
    return run(
        "run-anthropic",
        task="Describe the picture and check the weather there.",
        prompt=[
            message(
                "user",
                text("Where is this and what is the weather?"),
                Part(type="uri", modality="image", uri="https://example.com/eiffel.jpg"),
            )
        ],
        instructions="You are terse.",
        anthropic=True,
        outputs=[
            assistant(call("toolu_1", "get_weather", {"city": "Paris"})),
            assistant(text("The Eiffel Tower, Paris: 18C.")),
        ],
        results={"toolu_1": ({"temp_c": 18}, "ok")},
        reward=0.0,
        outcome="failure",
        token_ids=False,
    )


def few_shot_run() -> Trajectory:
    """The first call's input holds an example exchange the run did not produce, and no system."""
    return run(
        "run-few-shot",
        task="Weather in Rome?",
        prompt=[
            message("user", text("Weather in Oslo?")),
            assistant(text("Oslo: 3C.")),
            message("user", text("Weather in Rome?")),
        ],
        outputs=[
            assistant(call(None, "get_weather", {"city": "Rome"})),  # no call id (ollama-style)
            assistant(text("Rome: 21C.")),
        ],
        results={"get_weather": ("21C", "ok")},
        reward=0.5,
        outcome="partial",
    )


def reset_run() -> Trajectory:
    """The history is replaced by a summary after the first call: two chains; the last call fails."""
    return run(
        "run-reset",
        task=WEATHER_TASK,
        prompt=weather_prompt(),
        outputs=[
            assistant(call("c1", "get_weather", {"city": "Paris"})),
            assistant(text("Paris: 18C. Picnic at Parc Monceau.")),
            None,
        ],
        reset_after=0,
        reward=0.75,
        outcome="success",
    )


def raw_arguments_run() -> Trajectory:
    """The model's arguments were not JSON (kept as the raw string)."""
    return run(
        "run-raw-args",
        task="Search cats.",
        prompt=[message("user", text("Search cats."))],
        outputs=[assistant(call("c1", "search", "query=cats")), assistant(text("Cats found."))],
        reward=None,
    )


def all_runs() -> list[Trajectory]:
    return [openai_run(), anthropic_run(), few_shot_run(), reset_run(), raw_arguments_run()]


def weather_group() -> list[Trajectory]:
    """Runs of one task with different rewards (DPO pairs, ART groups)."""
    return [
        openai_run("g-best", 1.0, "Paris: 18C."),
        short_run("g-worst", 0.0, "I cannot know the weather."),
        openai_run("g-mid", 0.5, "Paris is 18C, maybe."),
        short_run("g-low", 0.25, "Probably sunny."),
        short_run("g-unrated", None, "No idea."),
    ]
