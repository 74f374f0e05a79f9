"""Trajectory outcomes from real agent runs: the openai SDK under trajotel's instrumentation against
scripted fake-server scenarios, the spans through the real normalizer and assembler."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import trajotel
from trajotel.assemble.assembler import assemble_spans
from trajotel.assemble.model import Trajectory
from trajotel.instrument.openai import OpenAIInstrumentor
from trajotel.testing import FakeLLMServer, Step

from tests.assemble.span_rows import to_rows

TOOLS = [
    {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
    for name in ("get_weather", "add")
]
SCENARIOS = {
    "answers": [Step.tool("get_weather", {"city": "Paris"}), Step.text("Sunny in Paris.")],
    "cut-off": [Step.tool("get_weather", {"city": "Paris"}), Step.tool("add", {"a": 1, "b": 2})],
    "truncated": [Step(content="It is sunny and", finish_reason="length")],
    "filtered": [Step(content="", finish_reason="content_filter")],
    "fails-late": [Step.tool("get_weather", {"city": "Paris"}), Step.fail(500)],
    "tools-fail": [
        Step(tool_calls=(("get_weather", {"city": "Paris"}), ("add", {"a": 1, "b": 2}))),
        Step.text("I could not get the weather."),
    ],
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(scenarios=SCENARIOS) as server:
        yield server


def run(
    fake: FakeLLMServer,
    model: str,
    *,
    turns: int = 2,
    tool: Callable[[str], Any] = lambda name: "ok",
    inside: Callable[[Any], None] | None = None,
    complete: bool = True,
) -> Trajectory:
    """A tool loop of at most ``turns`` model calls inside ``trajotel.trajectory()``, assembled.

    ``tool`` implements the tools (a RuntimeError is the tool failing, answered to the model as
    an error); ``inside`` gets the trajectory handle before the block ends (a ValueError it
    raises is the agent crashing: it leaves the block, and the run's caller catches it).
    """
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)

    @trajotel.tool(tracer_provider=provider)
    def call_tool(name: str) -> Any:
        return tool(name)

    try:
        _agent(fake, model, turns, call_tool, provider, inside)
    except ValueError:
        pass
    finally:
        instrumentor.uninstrument()
    rows, contents = to_rows(exporter.get_finished_spans())
    trajectory = assemble_spans(rows, contents, complete=complete)
    assert trajectory is not None
    return trajectory


def _agent(
    fake: FakeLLMServer,
    model: str,
    turns: int,
    call_tool: Callable[[str], Any],
    provider: TracerProvider,
    inside: Callable[[Any], None] | None,
) -> None:
    client = openai.OpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    with trajotel.trajectory(task="weather", tracer_provider=provider) as t:
        try:
            for _ in range(turns):
                reply = client.chat.completions.create(model=model, messages=messages, tools=TOOLS)
                message = reply.choices[0].message
                messages.append(message.model_dump(exclude_none=True))
                for call in message.tool_calls or []:
                    with trajotel.tool_call(call.id):
                        try:
                            result = call_tool(call.function.name)
                        except RuntimeError as exc:
                            result = f"error: {exc}"
                    messages.append({"role": "tool", "tool_call_id": call.id, "content": str(result)})
                if not message.tool_calls:
                    break
        except openai.APIStatusError:
            pass  # the agent gives up after a failed model call, without raising
        if inside is not None:
            inside(t)


def failing_tool(name: str) -> Any:
    raise RuntimeError(f"{name} is down")


@pytest.mark.parametrize(
    ("model", "label", "confidence", "reason"),
    [
        ("answers", "success", 0.6, "ended with an answer (finish reason stop)"),
        ("cut-off", "partial", 0.6, "cut off: the last model call asked for add and none followed"),
        ("truncated", "partial", 0.6, "last answer truncated (finish reason length)"),
        ("filtered", "failure", 0.7, "last answer blocked (finish reason content_filter)"),
        ("fails-late", "failure", 0.8, "last model call failed: 500"),
    ],
)
def test_the_heuristic_reads_how_the_run_ended(
    fake: FakeLLMServer, model: str, label: str, confidence: float, reason: str
) -> None:
    outcome = run(fake, model).outcome
    assert (outcome.label, outcome.confidence, outcome.reasons, outcome.source) == (
        label,
        confidence,
        [reason],
        "heuristic",
    )


def test_failing_tools_turn_an_answer_into_a_partial(fake: FakeLLMServer) -> None:
    outcome = run(fake, "tools-fail", tool=failing_tool).outcome
    assert outcome.label == "partial"
    assert outcome.reasons[-1] == "2 of 2 tool calls failed"
    # One tool failing of two is not a majority: still an answer, with the failure noted.
    mixed = run(fake, "tools-fail", tool=lambda name: failing_tool(name) if name == "add" else "ok")
    assert (mixed.outcome.label, mixed.outcome.reasons[-1]) == ("success", "1 of 2 tool calls failed")


def test_a_failing_agent_is_a_failure(fake: FakeLLMServer) -> None:
    def raise_inside(t: Any) -> None:
        raise ValueError("agent crashed")

    outcome = run(fake, "answers", inside=raise_inside).outcome
    assert (outcome.label, outcome.confidence) == ("failure", 0.9)
    assert outcome.reasons == ["root span 'invoke_agent' failed: agent crashed"]


def test_explicit_signals_win_over_the_heuristic(fake: FakeLLMServer) -> None:
    explicit = run(fake, "truncated", inside=lambda t: t.outcome("success", reason="good enough"))
    assert explicit.outcome.to_dict() == {
        "label": "success",
        "confidence": 1.0,
        "reasons": ["explicit trajotel.outcome", "good enough"],
        "source": "explicit",
    }
    rewarded = run(fake, "answers", inside=lambda t: t.reward(0.0, reason="wrong city"))
    assert (rewarded.outcome.label, rewarded.outcome.source) == ("failure", "reward")
    assert rewarded.outcome.reasons == ["explicit trajotel.reward 0", "wrong city"]


def test_a_running_trajectory_has_no_outcome_yet(fake: FakeLLMServer) -> None:
    outcome = run(fake, "answers", complete=False).outcome
    assert (outcome.label, outcome.reasons) == ("unknown", ["still running"])
